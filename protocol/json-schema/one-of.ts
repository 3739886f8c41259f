/**
 * `oneOf` as a grammar alternation is exact only when no value can match two branches. This
 * proves that for the common shapes: branches of distinct types (`string` vs `null`), distinct
 * constants, or objects told apart by a required property with distinct constant values (the
 * discriminated unions zod and Pydantic emit). Anything else is refused.
 */
import { JSON_TYPES } from './keywords.ts';
import { refuse } from './refusal.ts';
import { isSchemaObject, mergeAllOf, resolveRef, type Schema } from './resolve.ts';

/** The branch with `$ref`s followed and `allOf` merged, as far as it can be done cheaply. */
function settle(root: unknown, branch: unknown, path: string): Schema | null {
  let s = branch;
  for (let hops = 0; hops < 16 && isSchemaObject(s) && s.$ref !== undefined; hops++) {
    const { $ref, ...rest } = s;
    s = Object.keys(rest).length > 0 ? { ...rest, allOf: [{ $ref }] } : resolveRef(root, $ref, path).schema;
    if (isSchemaObject(s) && s.allOf !== undefined) s = mergeAllOf(root, s, path);
  }
  if (isSchemaObject(s) && s.allOf !== undefined) s = mergeAllOf(root, s, path);
  return isSchemaObject(s) ? s : null;
}

/** Types a branch's values can have (`integer` reported as `number`), or all when unknown. */
function typesOf(s: Schema): Set<string> {
  const values = constants(s);
  if (values) return new Set(values.map((v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v)));
  const t = s.type;
  if (t === undefined) return new Set(JSON_TYPES.map((x) => (x === 'integer' ? 'number' : x)));
  const list = (Array.isArray(t) ? t : [t]) as string[];
  return new Set(list.map((x) => (x === 'integer' ? 'number' : x)));
}

function constants(s: Schema | null): unknown[] | null {
  if (!s) return null;
  if (s.const !== undefined) return [s.const];
  if (Array.isArray(s.enum)) return s.enum as unknown[];
  return null;
}

const keyOf = (v: unknown) => JSON.stringify(v);

/** Constant values of each required property, for branches that are objects. */
function discriminators(root: unknown, s: Schema, path: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const props = isSchemaObject(s.properties) ? s.properties : {};
  for (const name of Array.isArray(s.required) ? (s.required as string[]) : []) {
    const values = constants(settle(root, props[name], path));
    if (values) out.set(name, new Set(values.map(keyOf)));
  }
  return out;
}

function disjoint(root: unknown, a: Schema, b: Schema, path: string): boolean {
  const ta = typesOf(a);
  if (![...typesOf(b)].some((t) => ta.has(t))) return true;
  const ca = constants(a);
  const cb = constants(b);
  if (ca && cb) return !ca.some((x) => cb.some((y) => keyOf(x) === keyOf(y)));
  const da = discriminators(root, a, path);
  const db = discriminators(root, b, path);
  const onlyObjects = (s: Schema) => s.type === 'object';
  if (!onlyObjects(a) || !onlyObjects(b)) return false;
  for (const [name, va] of da) {
    const vb = db.get(name);
    if (vb && ![...va].some((x) => vb.has(x))) return true;
  }
  return false;
}

/** Refuses a `oneOf` whose branches might both match one value. */
export function checkDisjoint(root: unknown, branches: readonly unknown[], path: string): void {
  const settled = branches.map((b, i) => settle(root, b, `${path}/oneOf/${i}`));
  for (let i = 0; i < settled.length; i++) {
    for (let j = i + 1; j < settled.length; j++) {
      const a = settled[i];
      const b = settled[j];
      if (branches[i] === false || branches[j] === false) continue;
      if (!a || !b || !disjoint(root, a, b, path)) {
        refuse('oneOf', path, `branches ${i} and ${j} may both match one value, which oneOf forbids; use anyOf, or tell them apart by type or a constant property`);
      }
    }
  }
}
