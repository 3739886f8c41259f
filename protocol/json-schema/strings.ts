/**
 * String schemas: `minLength`/`maxLength`, `pattern` and the common `format`s. Each format
 * grammar is a subset of what the format's validators (ajv-formats, zod, Pydantic) accept: dates
 * without 29 February, times in UTC (`Z`), RFC 4122 UUIDs, plain addresses, https URLs.
 */
import { MAX_COUNT, repeat, type JsonBasics } from './gbnf.ts';
import { patternGrammar } from './regex.ts';
import { refuse } from './refusal.ts';

type Schema = Record<string, unknown>;

const D = '[0-9]';
const HEX = '[0-9a-f]';
const DATE =
  `${D}{4} "-" ("0" [13578] | "1" [02]) "-" ("0" [1-9] | [12] ${D} | "3" [01])` +
  ` | ${D}{4} "-" ("0" [469] | "11") "-" ("0" [1-9] | [12] ${D} | "30")` +
  ` | ${D}{4} "-02-" ("0" [1-9] | "1" ${D} | "2" [0-8])`;
const TIME = `([01] ${D} | "2" [0-3]) ":" [0-5] ${D} ":" [0-5] ${D} ("." ${D}{1,6})? "Z"`;
const OCTET = `("25" [0-5] | "2" [0-4] ${D} | "1" ${D}{2} | [1-9]? ${D})`;

/** Grammars of the string body (between the quotes) per supported `format`. */
const FORMATS: Record<string, string> = {
  date: `(${DATE})`,
  time: TIME,
  'date-time': `(${DATE}) "T" ${TIME}`,
  uuid: `${HEX}{8} "-" ${HEX}{4} "-" [1-8] ${HEX}{3} "-" [89ab] ${HEX}{3} "-" ${HEX}{12}`,
  email: `[a-z0-9]{1,32} ("." [a-z0-9]{1,32})? "@" [a-z0-9]{1,32} "." [a-z]{2,8}`,
  ipv4: `${OCTET} "." ${OCTET} "." ${OCTET} "." ${OCTET}`,
  uri: `"https://" [a-z0-9]{1,30} "." [a-z]{2,6} ("/" [a-z0-9-]{1,20}){0,4}`,
};

/** Shortest and longest string each format grammar produces, to check length bounds against. */
const FORMAT_LENGTHS: Record<string, readonly [number, number]> = {
  date: [10, 10],
  time: [9, 16],
  'date-time': [20, 27],
  uuid: [36, 36],
  email: [6, 107],
  ipv4: [7, 15],
  uri: [12, 129],
};

/**
 * Patterns known to accept every string of a format's grammar above (zod emits these next to
 * `format`), so the pair is enforced by the format's grammar alone. Any other pattern beside a
 * format is refused.
 */
const FORMAT_PATTERNS: Record<string, readonly string[]> = {
  date: [
    '^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))$',
  ],
  'date-time': [
    '^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$',
    '^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z|([+-](?:[01]\\d|2[0-3]):[0-5]\\d)))$',
  ],
  uuid: [
    '^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$',
  ],
  email: ["^(?:[A-Za-z0-9_'+\\-]+\\.)*[A-Za-z0-9_'+\\-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9\\-]*\\.)+[A-Za-z]{2,}$"],
  ipv4: ['^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$'],
};

export const SUPPORTED_FORMATS = Object.keys(FORMATS);

function length(schema: Schema, keyword: 'minLength' | 'maxLength', path: string): number | undefined {
  const v = schema[keyword];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) refuse(keyword, path, 'must be a non-negative integer');
  if (v > MAX_COUNT) refuse(keyword, path, `lengths above ${MAX_COUNT} are not supported`);
  return v;
}

/** Grammar of a JSON string (quotes included) under a schema's string keywords. */
export function stringGrammar(schema: Schema, path: string, basics: JsonBasics): string {
  const min = length(schema, 'minLength', path);
  const max = length(schema, 'maxLength', path);
  const format = schema.format;
  const pattern = schema.pattern;
  if (pattern !== undefined && typeof pattern !== 'string') refuse('pattern', path, 'must be a string');
  if (format !== undefined) {
    if (typeof format !== 'string' || !(format in FORMATS)) {
      refuse('format', path, `format ${JSON.stringify(format)} is not supported (supported: ${SUPPORTED_FORMATS.join(', ')})`);
    }
    const [shortest, longest] = FORMAT_LENGTHS[format]!;
    if (min !== undefined && min > shortest) refuse('minLength', path, `format "${format}" strings may be ${shortest} characters long; a larger minLength is not supported`);
    if (max !== undefined && max < longest) refuse('maxLength', path, `format "${format}" strings may be ${longest} characters long; a smaller maxLength is not supported`);
    if (pattern !== undefined && !FORMAT_PATTERNS[format]?.includes(pattern)) refuse('pattern', path, `a pattern together with format "${format}" is supported only when it is the format's own pattern`);
    return `"\\"" ${FORMATS[format]} "\\""`;
  }
  if (pattern !== undefined) {
    if (min !== undefined || max !== undefined) refuse(min !== undefined ? 'minLength' : 'maxLength', path, 'a length bound together with a pattern is not supported');
    return `"\\"" ${patternGrammar(pattern, path)} "\\""`;
  }
  if (min === undefined && max === undefined) return basics.string;
  if (max !== undefined && min !== undefined && max < min) refuse('maxLength', path, 'maxLength is below minLength');
  return `"\\"" ${repeat(basics.char, min ?? 0, max ?? null)} "\\""`;
}

