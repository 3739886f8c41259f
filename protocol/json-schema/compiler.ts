/**
 * JSON Schema -> GBNF: a grammar whose every output is valid against the schema, or a refusal
 * naming the keyword that cannot be enforced. Never a looser grammar.
 *
 * Choices, each keeping the grammar's language a subset of the schema's:
 * - objects list their properties in the schema's order; optional ones may be left out;
 *   properties the schema does not declare are never generated, whatever
 *   `additionalProperties` says (a schema with no `properties` gets any object, or a map of
 *   its `additionalProperties` schema);
 * - numbers have no exponent, at most 15 integer and 9 fraction digits; whitespace is one
 *   optional space after `:` and `,`;
 * - `oneOf` is enforced when its branches cannot both match (distinct types, constants or a
 *   discriminating property); overlapping branches are refused.
 */
import { alt, jsonBasics, jsonLit, lit, MAX_COUNT, repeat, RuleSet, type JsonBasics } from './gbnf.ts';
import { hasConstraintsBesides, IGNORED, JSON_TYPES, unsupportedReason, type JsonType } from './keywords.ts';
import { grammarFault } from './gbnf-check.ts';
import { integerGrammar, numberGrammar } from './numbers.ts';
import { checkDisjoint } from './one-of.ts';
import { childPath, refuse, SchemaRefusedError, type SchemaRefusal } from './refusal.ts';
import { isSchemaObject, mergeAllOf, resolveRef, type Schema } from './resolve.ts';
import { stringGrammar } from './strings.ts';

/** Most rules one grammar may have before the schema is refused as too large. */
const MAX_RULES = 5000;

export type SchemaGrammar = { ok: true; grammar: string } | { ok: false; refusal: SchemaRefusal };

function hintOf(path: string): string {
  const last = path.split('/').pop() ?? '';
  return last === '#' || last === '' ? 'root-value' : /^\d+$/.test(last) ? `item-${last}` : last;
}

function count(schema: Schema, keyword: string, path: string): number | undefined {
  const v = schema[keyword];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) refuse(keyword, path, 'must be a non-negative integer');
  if (v > MAX_COUNT) refuse(keyword, path, `counts above ${MAX_COUNT} are not supported`);
  return v;
}

class Compiler {
  readonly rules = new RuleSet();
  private readonly basics: JsonBasics = jsonBasics(this.rules);
  private readonly refRules = new Map<string, string>();
  /** References entered since the last character written, innermost last. */
  private leftRefs: string[] = [];

  private readonly root: unknown;
  constructor(root: unknown) {
    this.root = root;
  }

  /** GBNF expression for the values `schema` (found at `path`) accepts. */
  compile(schema: unknown, path: string): string {
    if (this.rules.size > MAX_RULES) refuse('(size)', '#', `the schema needs more than ${MAX_RULES} grammar rules`);
    if (schema === true) return this.basics.value;
    if (schema === false) refuse('false', path, 'the schema false accepts no value here');
    if (!isSchemaObject(schema)) refuse('type', path, 'a schema must be an object or a boolean');
    for (const k of Object.keys(schema)) {
      const reason = unsupportedReason(k, path === '#');
      if (reason) refuse(k, path, reason);
    }
    if (schema.allOf !== undefined) return this.compile(mergeAllOf(this.root, schema, path), path);
    if (schema.$ref !== undefined) {
      const { $ref, ...rest } = schema;
      if (hasConstraintsBesides(rest, [])) return this.compile({ ...rest, allOf: [{ $ref }] }, path);
      return this.reference($ref, path);
    }
    for (const key of ['anyOf', 'oneOf'] as const) if (schema[key] !== undefined) return this.union(schema, key, path);
    if (schema.enum !== undefined || schema.const !== undefined) return this.enumeration(schema, path);
    return this.byType(schema, path);
  }

  /**
   * One rule per referenced schema, so recursion (`#`, a definition that holds itself) works.
   * A reference reached again before any character is written (`A` = `anyOf [A, ...]`) would be
   * left recursion, which llama.cpp cannot parse: refused.
   */
  private reference(ref: unknown, path: string): string {
    const key = String(ref);
    if (this.leftRefs.includes(key)) refuse('$ref', path, `${key} refers back to itself before any value is written`);
    const known = this.refRules.get(key);
    if (known !== undefined) return known;
    const target = resolveRef(this.root, ref, path);
    const name = this.rules.reserve(ref === '#' ? 'root-ref' : `def-${key.split('/').pop()}`);
    this.refRules.set(key, name);
    this.leftRefs.push(key);
    try {
      this.rules.define(name, this.compile(target.schema, target.path));
    } finally {
      this.leftRefs.pop();
    }
    return name;
  }

  /** The `$ref` a rule was made for, if it was. */
  refOfRule(rule: string): string | undefined {
    return [...this.refRules].find(([, name]) => name === rule)?.[0];
  }

  /** Compiles a schema that comes after a written character (inside `{` or `[`): no left recursion there. */
  private inner(schema: unknown, path: string): string {
    const saved = this.leftRefs;
    this.leftRefs = [];
    try {
      return this.compile(schema, path);
    } finally {
      this.leftRefs = saved;
    }
  }

  private union(schema: Schema, key: 'anyOf' | 'oneOf', path: string): string {
    const { [key]: branches, ...rest } = schema;
    if (!Array.isArray(branches) || branches.length === 0) refuse(key, path, 'must be a non-empty array');
    if (key === 'oneOf') checkDisjoint(this.root, branches, path);
    // Keywords beside the union hold for every branch.
    const shared = Object.fromEntries(Object.entries(rest).filter(([k]) => !IGNORED.has(k) && k !== '$id'));
    const alternatives = branches
      .map((b, i) => ({ b, at: `${path}/${key}/${i}` }))
      .filter(({ b }) => b !== false)
      .map(({ b, at }) => this.compile(Object.keys(shared).length > 0 ? { ...shared, allOf: [b] } : b, at));
    if (alternatives.length === 0) refuse(key, path, 'no branch accepts any value');
    return alt(alternatives);
  }

  private enumeration(schema: Schema, path: string): string {
    const keyword = schema.enum !== undefined ? 'enum' : 'const';
    if (schema.enum !== undefined && (!Array.isArray(schema.enum) || schema.enum.length === 0)) refuse('enum', path, 'must be a non-empty array');
    let values: unknown[] = schema.enum !== undefined ? (schema.enum as unknown[]) : [schema.const];
    if (schema.enum !== undefined && schema.const !== undefined) values = values.filter((v) => JSON.stringify(v) === JSON.stringify(schema.const));
    const other = Object.keys(schema).find((k) => !IGNORED.has(k) && !['enum', 'const', 'type', '$id'].includes(k));
    if (other) refuse(other, path, `"${other}" together with ${keyword} is not supported`);
    if (schema.type !== undefined) {
      const types = this.types(schema, path);
      values = values.filter((v) => types.some((t) => jsonTypeMatches(v, t)));
    }
    if (values.length === 0) refuse(keyword, path, 'no value of it matches the schema\'s type');
    return alt(values.map((v) => jsonLit(v)));
  }

  private types(schema: Schema, path: string): JsonType[] {
    const t = schema.type;
    if (t === undefined) return JSON_TYPES.filter((x) => x !== 'integer');
    const list = Array.isArray(t) ? t : [t];
    for (const x of list) if (!JSON_TYPES.includes(x as JsonType)) refuse('type', path, `unknown type ${JSON.stringify(x)}`);
    if (list.length === 0) refuse('type', path, 'an empty type list accepts no value');
    return list as JsonType[];
  }

  private byType(schema: Schema, path: string): string {
    if (!hasConstraintsBesides(schema, [])) return this.basics.value;
    return alt(this.types(schema, path).map((t) => this.typed(t, schema, path)));
  }

  private typed(type: JsonType, schema: Schema, path: string): string {
    const hint = hintOf(path);
    const bounded = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'].some((k) => schema[k] !== undefined);
    switch (type) {
      case 'string': {
        const g = stringGrammar(schema, path, this.basics);
        return g === this.basics.string ? g : this.rules.add(hint, g);
      }
      case 'integer':
        return bounded ? this.rules.add(`${hint}-int`, integerGrammar(schema, path)) : this.basics.integer;
      case 'number':
        return bounded ? this.rules.add(`${hint}-num`, numberGrammar(schema, path)) : this.basics.number;
      case 'boolean':
        return '("true" | "false")';
      case 'null':
        return '"null"';
      case 'object':
        return this.object(schema, path, hint);
      case 'array':
        return this.array(schema, path, hint);
    }
  }

  private object(schema: Schema, path: string, hint: string): string {
    const props = schema.properties ?? {};
    const required = schema.required ?? [];
    const extra = schema.additionalProperties;
    if (!isSchemaObject(props)) refuse('properties', path, 'must be an object');
    if (!Array.isArray(required) || !required.every((r) => typeof r === 'string')) refuse('required', path, 'must be an array of strings');
    if (extra !== undefined && typeof extra !== 'boolean' && !isSchemaObject(extra)) refuse('additionalProperties', path, 'must be a boolean or a schema');
    const names = schema.propertyNames;
    if (names !== undefined && names !== true && !(isSchemaObject(names) && !hasConstraintsBesides(names, ['type']) && (names.type ?? 'string') === 'string')) {
      refuse('propertyNames', path, 'only {"type":"string"} is supported');
    }
    const sp = this.basics.sp;
    const members: Array<{ kv: string; required: boolean }> = [];
    for (const name of [...Object.keys(props), ...required.filter((r) => !(r in props))]) {
      const isRequired = required.includes(name);
      const sub = name in props ? props[name] : isSchemaObject(extra) ? extra : extra === false ? false : true;
      if (sub === false) {
        if (isRequired) refuse(name in props ? 'properties' : 'additionalProperties', path, `property "${name}" is required but its schema accepts no value`);
        continue;
      }
      const value = this.inner(sub, name in props ? childPath(path, 'properties', name) : childPath(path, 'additionalProperties'));
      members.push({ kv: `${jsonLit(name)} ":" ${sp} ${value}`, required: isRequired });
    }
    if (members.length === 0) {
      if (extra === false) return lit('{}');
      if (!isSchemaObject(extra)) return this.basics.object;
      const v = this.inner(extra, childPath(path, 'additionalProperties'));
      const entry = `${this.basics.string} ":" ${sp} ${v}`;
      return this.rules.add(hint, `"{" (${entry} ("," ${sp} ${entry})*)? "}"`);
    }
    // tails[k]: the members from k on once one has been written, so each needs its comma.
    const tails: string[] = new Array<string>(members.length + 1).fill('');
    for (let k = members.length - 1; k >= 1; k--) {
      const m = members[k]!;
      const piece = m.required ? `"," ${sp} ${m.kv}` : `("," ${sp} ${m.kv})?`;
      const body = tails[k + 1] ? `${piece} ${tails[k + 1]}` : piece;
      tails[k] = k === members.length - 1 ? body : this.rules.add(`${hint}-rest`, body);
    }
    // The first member written is some optional one before the first required, or that required one.
    const firstRequired = members.findIndex((m) => m.required);
    const last = firstRequired === -1 ? members.length - 1 : firstRequired;
    const heads = members.slice(0, last + 1).map((m, j) => (tails[j + 1] ? `${m.kv} ${tails[j + 1]}` : m.kv));
    const inner = heads.length === 1 ? heads[0]! : `(${heads.join(' | ')})`;
    return this.rules.add(hint, `"{" ${firstRequired === -1 ? `(${inner})?` : inner} "}"`);
  }

  private array(schema: Schema, path: string, hint: string): string {
    const min = count(schema, 'minItems', path) ?? 0;
    const max = count(schema, 'maxItems', path) ?? null;
    if (max !== null && max < min) refuse('maxItems', path, 'maxItems is below minItems');
    if (schema.uniqueItems === true && (max === null || max > 1)) refuse('uniqueItems', path, 'unique items cannot be enforced by the grammar');
    let prefix = schema.prefixItems;
    let items = schema.items;
    if (Array.isArray(items)) {
      if (prefix !== undefined) refuse('items', path, 'an items array beside prefixItems is not supported');
      [prefix, items] = [items, undefined];
    }
    if (prefix !== undefined && !Array.isArray(prefix)) refuse('prefixItems', path, 'must be an array');
    const sp = this.basics.sp;
    const fixed = ((prefix as unknown[] | undefined) ?? []).slice(0, max ?? undefined).map((s, i) => this.inner(s, childPath(path, 'prefixItems', i)));
    // Beyond the prefix: items of `items` when it is a schema; otherwise only as many as minItems needs.
    const open = items === undefined || items === true;
    if (items === false && min > fixed.length) refuse('minItems', path, 'more items are required than the schema allows');
    const item = items === false ? null : this.inner(open ? true : items, childPath(path, 'items'));
    const extraMin = Math.max(0, min - fixed.length);
    const extraMax = item === null ? 0 : open && fixed.length > 0 ? extraMin : max === null ? null : max - fixed.length;
    if (fixed.length === 0) {
      if (item === null || extraMax === 0) return lit('[]');
      const rest = extraMax === null ? null : extraMax - 1;
      const seq = `${item} ${repeat(`("," ${sp} ${item})`, Math.max(0, extraMin - 1), rest)}`;
      return this.rules.add(hint, `"[" ${extraMin === 0 ? `(${seq})?` : seq} "]"`);
    }
    const head = fixed.join(` "," ${sp} `);
    const tail = item === null || extraMax === 0 ? '' : ` ${repeat(`("," ${sp} ${item})`, extraMin, extraMax)}`;
    return this.rules.add(hint, `"[" ${head}${tail} "]"`);
  }
}

function jsonTypeMatches(v: unknown, t: JsonType): boolean {
  if (t === 'null') return v === null;
  if (t === 'integer') return Number.isInteger(v);
  if (t === 'array') return Array.isArray(v);
  if (t === 'object') return isSchemaObject(v);
  return typeof v === t;
}

/** Compiles a JSON schema to a GBNF grammar, or says which keyword it cannot enforce. */
export function compileJsonSchema(schema: unknown): SchemaGrammar {
  try {
    const c = new Compiler(schema);
    const grammar = c.rules.text(c.compile(schema, '#'));
    const fault = grammarFault(grammar);
    if (fault) {
      const ref = fault.rules.map((rule) => c.refOfRule(rule)).find((r) => r !== undefined);
      const where = ref ? ` (through ${ref})` : '';
      if (fault.kind === 'unproductive') refuse('$ref', ref ?? '#', `part of the schema${where} has no finite value: a required property or item leads back into itself`);
      refuse('$ref', ref ?? '#', `the schema${where} refers back to itself before any value is written`);
    }
    return { ok: true, grammar };
  } catch (err) {
    if (err instanceof SchemaRefusedError) return { ok: false, refusal: err.refusal };
    throw err;
  }
}
