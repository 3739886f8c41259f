/**
 * GBNF text: literals and character classes escaped for llama.cpp's grammar parser, the rule
 * set a compiled schema becomes, and the JSON building blocks every schema shares.
 */

/** Rule names are `[a-zA-Z0-9-]+` in GBNF. */
export function ruleName(hint: string): string {
  const name = hint.replace(/[^a-zA-Z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return name.length > 0 ? name : 'rule';
}

function escapeCodePoint(cp: number): string {
  if (cp < 0x100) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return `\\U${cp.toString(16).padStart(8, '0')}`;
}

/** A GBNF literal matching exactly `text`. */
export function lit(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    out += ch === '"' || ch === '\\' || cp < 0x20 || cp === 0x7f ? escapeCodePoint(cp) : ch;
  }
  return `${out}"`;
}

/** A literal matching `value` serialized as compact JSON. */
export function jsonLit(value: unknown): string {
  return lit(JSON.stringify(value));
}

export interface CodeRange {
  readonly from: number;
  readonly to: number;
}

/** A character class over code point ranges; everything but letters and digits is escaped. */
export function charClass(ranges: readonly CodeRange[], negated = false): string {
  const one = (cp: number) => (/[a-zA-Z0-9]/.test(String.fromCodePoint(cp)) ? String.fromCodePoint(cp) : escapeCodePoint(cp));
  const body = ranges.map((r) => (r.from === r.to ? one(r.from) : `${one(r.from)}-${one(r.to)}`)).join('');
  return `[${negated ? '^' : ''}${body}]`;
}

/** `(a | b)` for several alternatives, `a` for one. */
export function alt(alternatives: readonly string[]): string {
  const unique = [...new Set(alternatives)];
  return unique.length === 1 ? unique[0]! : `(${unique.join(' | ')})`;
}

/** `x{min,max}` with the short forms GBNF has; `max` null means unbounded. */
export function repeat(expr: string, min: number, max: number | null): string {
  if (max !== null && max === min) return min === 1 ? expr : min === 0 ? '""' : `${expr}{${min}}`;
  if (max === null) return min === 0 ? `${expr}*` : min === 1 ? `${expr}+` : `${expr}{${min},}`;
  if (min === 0 && max === 1) return `${expr}?`;
  return `${expr}{${min},${max}}`;
}

/**
 * Named rules of one grammar. Names are unique; a body already defined under another name
 * reuses that name, so shared shapes (the same `$ref`, the same string bounds) cost one rule.
 */
export class RuleSet {
  private readonly bodies = new Map<string, string>();
  private readonly byBody = new Map<string, string>();

  constructor() {
    this.bodies.set('root', '');
  }

  /** Reserves a fresh name derived from `hint` (for rules defined later, e.g. recursive refs). */
  reserve(hint: string): string {
    const base = ruleName(hint);
    let name = base;
    for (let i = 2; this.bodies.has(name); i++) name = `${base}-${i}`;
    this.bodies.set(name, '');
    return name;
  }

  define(name: string, body: string): void {
    this.bodies.set(name, body);
    if (!this.byBody.has(body)) this.byBody.set(body, name);
  }

  /** The name of a rule with this body, defining one under `hint` if none exists yet. */
  add(hint: string, body: string): string {
    const known = this.byBody.get(body);
    if (known !== undefined) return known;
    const name = this.reserve(hint);
    this.define(name, body);
    return name;
  }

  get size(): number {
    return this.bodies.size;
  }

  /** The grammar text, `root ::= rootExpr` first. */
  text(rootExpr: string): string {
    this.bodies.set('root', rootExpr);
    return `${[...this.bodies].map(([name, body]) => `${name} ::= ${body}`).join('\n')}\n`;
  }
}

/** Largest length or item count a grammar spells out (llama.cpp expands counted repetitions into rules). */
export const MAX_COUNT = 20_000;

/** Most digits of an integer part, and of a fraction, the grammars generate. */
export const MAX_INT_DIGITS = 15;
export const MAX_FRACTION_DIGITS = 9;

/**
 * One JSON string character: any code point but `"`, `\` and controls, or an escape. `\u`
 * escapes of lone surrogates are left out, so a length counted here is the length in code points
 * that validators count.
 */
const STRING_CHAR =
  '[^"\\\\\\x00-\\x1f\\x7f] | "\\\\" ([\\x22\\x5c/bfnrt] | "u" ([0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}))';

/** Defines the shared JSON rules in `rules` and returns their names. */
export function jsonBasics(rules: RuleSet) {
  const char = rules.add('char', STRING_CHAR);
  const sp = rules.add('sp', '" "?');
  const string = rules.add('string', `"\\"" ${char}* "\\""`);
  const fraction = rules.add('fraction', `"." [0-9]{1,${MAX_FRACTION_DIGITS}}`);
  const integer = rules.add('integer', `"-"? ("0" | [1-9] [0-9]{0,${MAX_INT_DIGITS - 1}})`);
  const number = rules.add('number', `${integer} ${fraction}?`);
  const value = rules.reserve('value');
  const object = rules.add('object', `"{" (${string} ":" ${sp} ${value} ("," ${sp} ${string} ":" ${sp} ${value})*)? "}"`);
  const array = rules.add('array', `"[" (${value} ("," ${sp} ${value})*)? "]"`);
  rules.define(value, `${object} | ${array} | ${string} | ${number} | "true" | "false" | "null"`);
  return { char, sp, string, fraction, integer, number, value, object, array };
}
export type JsonBasics = ReturnType<typeof jsonBasics>;
