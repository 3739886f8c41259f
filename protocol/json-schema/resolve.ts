/**
 * `$ref` resolution (JSON pointers within the schema: `#`, `#/$defs/x`, `#/definitions/x`,
 * `#/properties/a`...) and `allOf` merging into one schema with the same meaning.
 */
import { IGNORED } from './keywords.ts';
import { refuse } from './refusal.ts';

export type Schema = Record<string, unknown>;

export function isSchemaObject(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The schema a local `$ref` points at, with the pointer it lives at. */
export function resolveRef(root: unknown, ref: unknown, path: string): { schema: unknown; path: string } {
  if (typeof ref !== 'string' || !ref.startsWith('#')) refuse('$ref', path, `only references within the schema ("#/...") are supported, got ${JSON.stringify(ref)}`);
  if (ref !== '#' && !ref.startsWith('#/')) refuse('$ref', path, `anchors are not supported, got ${JSON.stringify(ref)}`);
  let node: unknown = root;
  for (const raw of ref === '#' ? [] : ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    const next = Array.isArray(node) ? node[Number(key)] : isSchemaObject(node) ? node[key] : undefined;
    if (next === undefined) refuse('$ref', path, `${ref} does not resolve within the schema`);
    node = next;
  }
  return { schema: node, path: ref };
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Intersection of two `type` values, `integer` counting as a `number`. */
function intersectTypes(a: unknown, b: unknown, path: string): string[] {
  const list = (t: unknown) => (Array.isArray(t) ? t : [t]) as string[];
  const out = new Set<string>();
  for (const x of list(a)) {
    for (const y of list(b)) {
      if (x === y) out.add(x);
      else if ((x === 'integer' && y === 'number') || (x === 'number' && y === 'integer')) out.add('integer');
    }
  }
  if (out.size === 0) refuse('allOf', path, `the branches' types ${JSON.stringify(a)} and ${JSON.stringify(b)} have nothing in common`);
  return [...out];
}

const TIGHTEST: Record<string, (a: number, b: number) => number> = {
  minimum: Math.max, exclusiveMinimum: Math.max, minLength: Math.max, minItems: Math.max,
  maximum: Math.min, exclusiveMaximum: Math.min, maxLength: Math.min, maxItems: Math.min,
};

/** Merges `b` into `a` (two schemas that must both hold), or refuses where they cannot be combined. */
function mergeTwo(a: Schema, b: Schema, path: string): Schema {
  const out: Schema = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (IGNORED.has(k) || k === '$id') continue;
    const prev = out[k];
    if (prev === undefined || sameJson(prev, v)) out[k] = v;
    else if (k === 'type') out[k] = intersectTypes(prev, v, path);
    else if (k === 'additionalProperties' && (prev === false || v === false)) out[k] = false;
    else if (k === 'additionalProperties' && (prev === true || v === true)) out[k] = prev === true ? v : prev;
    else if (k === 'required' && Array.isArray(prev) && Array.isArray(v)) out[k] = [...new Set([...prev, ...v])];
    else if (k in TIGHTEST && typeof prev === 'number' && typeof v === 'number') out[k] = TIGHTEST[k]!(prev, v);
    else if (k === 'enum' || k === 'const') {
      const left = k === 'enum' ? (prev as unknown[]) : [prev];
      const right = k === 'enum' ? (v as unknown[]) : [v];
      out[k] = k === 'enum' ? left.filter((x) => right.some((y) => sameJson(x, y))) : refuse('allOf', path, 'the branches require different constants');
    } else if (k === 'properties' && isSchemaObject(prev) && isSchemaObject(v)) {
      const props: Schema = { ...prev };
      for (const [name, s] of Object.entries(v)) props[name] = props[name] === undefined || sameJson(props[name], s) ? s : { allOf: [props[name], s] };
      out[k] = props;
    } else if (k === 'items' && isSchemaObject(prev) && isSchemaObject(v)) out[k] = { allOf: [prev, v] };
    else refuse('allOf', path, `the branches set "${k}" differently and cannot be combined`);
  }
  return out;
}

/**
 * Extra properties a branch with `additionalProperties: false` forbids: optional ones are
 * dropped (never generated), required ones make the schema unsatisfiable.
 */
function closeProperties(merged: Schema, branches: readonly Schema[], path: string): Schema {
  const closed = branches.filter((b) => b.additionalProperties === false);
  if (closed.length === 0) return merged;
  const allowed = (name: string) => closed.every((b) => isSchemaObject(b.properties) && name in b.properties);
  const props = Object.fromEntries(Object.entries((merged.properties as Schema | undefined) ?? {}).filter(([name]) => allowed(name)));
  for (const name of (merged.required as string[] | undefined) ?? []) {
    if (!allowed(name)) refuse('allOf', path, `property "${name}" is required by one branch and forbidden by another's additionalProperties: false`);
  }
  return { ...merged, properties: props, additionalProperties: false };
}

/**
 * One schema equal in meaning to `allOf` plus the schema's own other keywords. `$ref`s in the
 * branches are inlined (a reference back into itself is refused).
 */
export function mergeAllOf(root: unknown, schema: Schema, path: string, inlining: readonly string[] = []): Schema {
  const { allOf, ...rest } = schema;
  if (!Array.isArray(allOf) || allOf.length === 0) refuse('allOf', path, 'must be a non-empty array');
  const branches: Schema[] = [];
  const flatten = (s: unknown, at: string, seen: readonly string[]): void => {
    if (s === true) return;
    if (!isSchemaObject(s)) refuse('allOf', at, 'branches must be schema objects');
    const { $ref, allOf: nested, ...own } = s;
    if ($ref !== undefined) {
      if (seen.includes(String($ref))) refuse('$ref', at, `${String($ref)} refers back into itself through allOf`);
      const target = resolveRef(root, $ref, at);
      flatten(target.schema, target.path, [...seen, String($ref)]);
    }
    if (nested !== undefined) (nested as unknown[]).forEach((n, i) => flatten(n, `${at}/allOf/${i}`, seen));
    branches.push(own);
  };
  allOf.forEach((b, i) => flatten(b, `${path}/allOf/${i}`, inlining));
  flatten(rest, path, inlining);
  // `items` means "every item" beside no prefixItems and "items after the prefix" beside them.
  const arrays = branches.filter((b) => b.items !== undefined || b.prefixItems !== undefined);
  if (arrays.some((b) => b.prefixItems !== undefined) && !arrays.every((b) => sameJson(b.prefixItems, arrays[0]!.prefixItems))) {
    refuse('allOf', path, 'branches with different prefixItems (or items beside prefixItems) cannot be combined');
  }
  const merged = branches.reduce((acc, b) => mergeTwo(acc, b, path), {} as Schema);
  if (branches.some((b) => isSchemaObject(b.additionalProperties))) {
    if (branches.filter((b) => b.additionalProperties !== undefined || b.properties !== undefined).length > 1) refuse('allOf', path, 'additionalProperties schemas cannot be combined with other branches\' properties');
  }
  return closeProperties(merged, branches, path);
}
