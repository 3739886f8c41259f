/**
 * Grammars for bounded numbers. Integers: the decimal spellings (no leading zeros) of exactly
 * the integers in a range, built digit by digit. Numbers: an integer part and a fraction, split
 * so every spelling lies within the bounds; bounds must be integers. Neither ever emits an
 * exponent, and unbounded sides stop at `MAX_INT_DIGITS` digits (a subset of what is valid).
 */
import { MAX_FRACTION_DIGITS, MAX_INT_DIGITS, lit } from './gbnf.ts';
import { refuse } from './refusal.ts';

type Schema = Record<string, unknown>;

/** Largest bound magnitude the grammars are built for. */
const MAX_BOUND = 10 ** MAX_INT_DIGITS - 1;

const digitsOf = (n: number) => String(n).length;

/** Spellings of the integers in [lo, hi], both with the same number of digits. */
function sameLength(lo: string, hi: string): string {
  if (lo === hi) return lit(lo);
  const rest = lo.length - 1;
  if (rest === 0) return `[${lo}-${hi}]`;
  if (lo[0] === hi[0]) return `${lit(lo[0]!)} ${group(sameLength(lo.slice(1), hi.slice(1)))}`;
  if (/^0*$/.test(lo.slice(1)) && /^9*$/.test(hi.slice(1))) return `[${lo[0]}-${hi[0]}] [0-9]{${rest}}`;
  const first = Number(lo[0]);
  const last = Number(hi[0]);
  const parts = [`${lit(lo[0]!)} ${group(sameLength(lo.slice(1), '9'.repeat(rest)))}`];
  if (first + 1 <= last - 1) parts.push(`[${first + 1}-${last - 1}] [0-9]{${rest}}`);
  parts.push(`${lit(hi[0]!)} ${group(sameLength('0'.repeat(rest), hi.slice(1)))}`);
  return parts.join(' | ');
}

function group(expr: string): string {
  return /^("[^"]*"|\[[^\]]*\])$/.test(expr) ? expr : `(${expr})`;
}

/** Spellings of the integers in [lo, hi] (lo >= 0; hi null: up to `MAX_INT_DIGITS` digits). */
export function naturalRange(lo: number, hi: number | null): string {
  const parts: string[] = [];
  const topDigits = hi === null ? digitsOf(lo) : digitsOf(hi);
  for (let d = digitsOf(lo); d <= topDigits; d++) {
    const from = d === digitsOf(lo) ? lo : 10 ** (d - 1);
    const to = hi !== null && d === digitsOf(hi) ? hi : 10 ** d - 1;
    if (from <= to) parts.push(sameLength(String(from), String(to)));
  }
  if (hi === null && digitsOf(lo) < MAX_INT_DIGITS) parts.push(`[1-9] [0-9]{${digitsOf(lo)},${MAX_INT_DIGITS - 1}}`);
  return parts.length === 1 ? group(parts[0]!) : `(${parts.join(' | ')})`;
}

/** Spellings of the integers in [lo, hi]; null is unbounded on that side. */
export function integerRange(lo: number | null, hi: number | null): string {
  const parts: string[] = [];
  if (hi === null || hi >= 0) parts.push(naturalRange(Math.max(lo ?? 0, 0), hi));
  if (lo === null || lo < 0) {
    const smallest = hi !== null && hi < 0 ? -hi : 1;
    parts.push(`"-" ${naturalRange(smallest, lo === null ? null : -lo)}`);
  }
  return parts.length === 1 ? group(parts[0]!) : `(${parts.join(' | ')})`;
}

export interface Bound {
  readonly value: number;
  readonly exclusive: boolean;
}

const FRACTION = `("." [0-9]{1,${MAX_FRACTION_DIGITS}})`;
const NONZERO_FRACTION = `("." [0-9]{0,${MAX_FRACTION_DIGITS - 1}} [1-9])`;

/** Spellings of non-negative magnitudes m with low <(=) m <(=) high (integer bounds; high null: unbounded). */
function magnitudeRange(low: Bound, high: Bound | null): string[] {
  const parts: string[] = [];
  const bodyLo = low.exclusive ? low.value + 1 : low.value;
  const bodyHi = high === null ? null : high.value - 1;
  if (bodyHi === null || bodyLo <= bodyHi) parts.push(`${naturalRange(bodyLo, bodyHi)} ${FRACTION}?`);
  if (low.exclusive && (high === null || low.value < high.value)) parts.push(`${lit(String(low.value))} ${NONZERO_FRACTION}`);
  if (high !== null && !high.exclusive && (high.value > low.value || !low.exclusive)) parts.push(lit(String(high.value)));
  return parts;
}

/** Spellings of the numbers between two integer bounds (null: unbounded), or null when none exist. */
export function numberRange(lo: Bound | null, hi: Bound | null): string | null {
  const parts: string[] = [];
  if (hi === null || hi.value > 0 || (hi.value === 0 && !hi.exclusive)) {
    parts.push(...magnitudeRange(lo !== null && lo.value >= 0 ? lo : { value: 0, exclusive: false }, hi));
  }
  if (lo === null || lo.value < 0) {
    const low: Bound = hi !== null && hi.value < 0 ? { value: -hi.value, exclusive: hi.exclusive } : { value: 0, exclusive: true };
    const negative = magnitudeRange(low, lo === null ? null : { value: -lo.value, exclusive: lo.exclusive });
    if (negative.length > 0) parts.push(`"-" (${negative.join(' | ')})`);
  }
  return parts.length === 0 ? null : `(${parts.join(' | ')})`;
}

function boundValue(schema: Schema, keyword: string, path: string): number | undefined {
  const v = schema[keyword];
  if (v === undefined || typeof v === 'boolean') return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) refuse(keyword, path, 'must be a finite number');
  if (Math.abs(v) > MAX_BOUND) refuse(keyword, path, `bounds beyond ${MAX_BOUND} in magnitude are not supported`);
  return v;
}

/** The lower and upper bound a schema sets (draft 4's boolean `exclusiveMinimum` included); the tighter wins. */
export function readBounds(schema: Schema, path: string): { lo: Bound | null; loKeyword: string; hi: Bound | null; hiKeyword: string } {
  const min = boundValue(schema, 'minimum', path);
  const xmin = boundValue(schema, 'exclusiveMinimum', path);
  const max = boundValue(schema, 'maximum', path);
  const xmax = boundValue(schema, 'exclusiveMaximum', path);
  const lows: Array<[Bound, string]> = [];
  if (min !== undefined) lows.push([{ value: min, exclusive: schema.exclusiveMinimum === true }, 'minimum']);
  if (xmin !== undefined) lows.push([{ value: xmin, exclusive: true }, 'exclusiveMinimum']);
  const highs: Array<[Bound, string]> = [];
  if (max !== undefined) highs.push([{ value: max, exclusive: schema.exclusiveMaximum === true }, 'maximum']);
  if (xmax !== undefined) highs.push([{ value: xmax, exclusive: true }, 'exclusiveMaximum']);
  lows.sort((a, b) => b[0].value - a[0].value || Number(b[0].exclusive) - Number(a[0].exclusive));
  highs.sort((a, b) => a[0].value - b[0].value || Number(b[0].exclusive) - Number(a[0].exclusive));
  return { lo: lows[0]?.[0] ?? null, loKeyword: lows[0]?.[1] ?? 'minimum', hi: highs[0]?.[0] ?? null, hiKeyword: highs[0]?.[1] ?? 'maximum' };
}

/** Grammar of an integer schema's bounds. */
export function integerGrammar(schema: Schema, path: string): string {
  const b = readBounds(schema, path);
  const lo = b.lo === null ? null : b.lo.exclusive ? Math.floor(b.lo.value) + 1 : Math.ceil(b.lo.value);
  const hi = b.hi === null ? null : b.hi.exclusive ? Math.ceil(b.hi.value) - 1 : Math.floor(b.hi.value);
  if (lo !== null && hi !== null && lo > hi) refuse(b.hiKeyword, path, `no integer lies between the bounds ${lo} and ${hi}`);
  return integerRange(lo, hi);
}

/** Grammar of a number schema's bounds; bounds that are not integers are refused. */
export function numberGrammar(schema: Schema, path: string): string {
  const b = readBounds(schema, path);
  if (b.lo && !Number.isInteger(b.lo.value)) refuse(b.loKeyword, path, 'a number bound that is not an integer is not supported (integer bounds are)');
  if (b.hi && !Number.isInteger(b.hi.value)) refuse(b.hiKeyword, path, 'a number bound that is not an integer is not supported (integer bounds are)');
  const g = numberRange(b.lo, b.hi);
  if (g === null) refuse(b.hiKeyword, path, 'no number lies between the bounds');
  return g;
}
