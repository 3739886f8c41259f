/**
 * Which JSON Schema keywords the compiler enforces, which it may ignore (annotations and
 * containers of definitions) and, by omission, which it refuses.
 */

/** Keywords with no effect on validity, or holders of definitions reached through `$ref`. */
export const IGNORED = new Set([
  'title', 'description', 'default', 'examples', 'example', '$schema', '$comment', 'deprecated', 'readOnly', 'writeOnly',
  '$defs', 'definitions', 'discriminator', 'contentMediaType', 'contentEncoding', 'markdownDescription',
]);

export const STRING_KEYWORDS = ['minLength', 'maxLength', 'pattern', 'format'] as const;
export const NUMBER_KEYWORDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'] as const;
export const OBJECT_KEYWORDS = ['properties', 'required', 'additionalProperties', 'propertyNames'] as const;
export const ARRAY_KEYWORDS = ['items', 'prefixItems', 'minItems', 'maxItems', 'uniqueItems'] as const;
export const STRUCTURE_KEYWORDS = ['$ref', 'allOf', 'anyOf', 'oneOf', 'enum', 'const', 'type'] as const;

export const JSON_TYPES = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'] as const;
export type JsonType = (typeof JSON_TYPES)[number];

const ENFORCED = new Set<string>([...STRING_KEYWORDS, ...NUMBER_KEYWORDS, ...OBJECT_KEYWORDS, ...ARRAY_KEYWORDS, ...STRUCTURE_KEYWORDS]);

/** Why a few well-known keywords are refused; others get a generic sentence. */
const REASONS: Record<string, string> = {
  not: 'negation cannot be expressed as a grammar',
  if: 'conditional schemas are not supported',
  then: 'conditional schemas are not supported',
  else: 'conditional schemas are not supported',
  multipleOf: 'multiples cannot be enforced by the grammar',
  patternProperties: 'property names by pattern are not supported',
  minProperties: 'property counts are not supported',
  maxProperties: 'property counts are not supported',
  contains: 'contains is not supported',
  nullable: 'nullable is OpenAPI, not JSON Schema: use anyOf with {"type":"null"} or a type array',
  $dynamicRef: 'dynamic references are not supported',
  $recursiveRef: 'recursive references by $recursiveRef are not supported; use $ref',
};

/** The refusal reason for a keyword the compiler does not enforce, or null when it is enforced or ignorable. */
export function unsupportedReason(keyword: string, atRoot: boolean): string | null {
  if (ENFORCED.has(keyword) || IGNORED.has(keyword) || (keyword === '$id' && atRoot)) return null;
  return REASONS[keyword] ?? 'this keyword is not supported by the grammar compiler';
}

/** Whether a schema constrains anything beyond `keep` (annotations never count). */
export function hasConstraintsBesides(schema: Record<string, unknown>, keep: readonly string[]): boolean {
  return Object.keys(schema).some((k) => !IGNORED.has(k) && k !== '$id' && !keep.includes(k));
}
