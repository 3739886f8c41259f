/**
 * JSON schemas as clients send them (Pydantic, zod's toJSONSchema, hand-written OpenAI
 * requests), bounded so a random-weight demo model finishes each value within a few hundred tokens.
 */
export interface CorpusSchema {
  name: string;
  schema: Record<string, unknown>;
}

export const SCHEMA_CORPUS: readonly CorpusSchema[] = [
  {
    name: 'pydantic Optional[str] (anyOf with null)',
    schema: { title: 'User', type: 'object', properties: { name: { anyOf: [{ type: 'string', maxLength: 8 }, { type: 'null' }], default: null, title: 'Name' } }, required: ['name'] },
  },
  {
    name: 'pydantic v1 $ref to #/definitions with enum and integer bounds',
    schema: {
      type: 'object',
      properties: { pet: { $ref: '#/definitions/Pet' } },
      required: ['pet'],
      definitions: { Pet: { title: 'Pet', type: 'object', properties: { kind: { enum: ['cat', 'dog'], type: 'string' }, age: { type: 'integer', minimum: 0, maximum: 30 } }, required: ['kind', 'age'] } },
    },
  },
  {
    name: 'allOf at the root merging a #/$defs reference',
    schema: {
      $defs: { Base: { type: 'object', properties: { id: { type: 'integer', minimum: 1, maximum: 9999 } }, required: ['id'] } },
      allOf: [{ $ref: '#/$defs/Base' }, { type: 'object', properties: { tag: { type: 'string', minLength: 1, maxLength: 6 } }, required: ['tag'] }],
    },
  },
  {
    name: 'nested array of objects with a pattern and exclusive bounds',
    schema: {
      type: 'object',
      properties: {
        items: {
          type: 'array',
          minItems: 1,
          maxItems: 3,
          items: { type: 'object', properties: { sku: { type: 'string', pattern: '^[A-Z]{3}-[0-9]{3}$' }, qty: { type: 'integer', exclusiveMinimum: 0, maximum: 99 } }, required: ['sku', 'qty'], additionalProperties: false },
        },
      },
      required: ['items'],
      additionalProperties: false,
    },
  },
  {
    name: 'number bounds, enum, const, boolean and a type array with null',
    schema: {
      type: 'object',
      properties: { score: { type: 'number', minimum: -1, maximum: 1 }, level: { enum: ['low', 'mid', 'high'] }, v: { const: 2 }, ok: { type: 'boolean' }, note: { type: ['string', 'null'], maxLength: 5 } },
      required: ['score', 'level', 'v', 'ok', 'note'],
      additionalProperties: false,
    },
  },
  {
    name: 'zod: uuid and date formats, discriminated oneOf, tuple, nullable',
    schema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: {
        id: { type: 'string', format: 'uuid', pattern: '^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$' },
        day: { type: 'string', format: 'date' },
        shape: {
          oneOf: [
            { type: 'object', properties: { t: { type: 'string', const: 'circle' }, r: { type: 'integer', minimum: 1, maximum: 9 } }, required: ['t', 'r'], additionalProperties: false },
            { type: 'object', properties: { t: { type: 'string', const: 'square' }, side: { type: 'number', exclusiveMinimum: 0, maximum: 10 } }, required: ['t', 'side'], additionalProperties: false },
          ],
        },
        pair: { type: 'array', prefixItems: [{ type: 'string', maxLength: 4 }, { type: 'integer', minimum: -5, maximum: 5 }], items: false, minItems: 2, maxItems: 2 },
        nick: { type: ['string', 'null'], maxLength: 4 },
      },
      required: ['id', 'day', 'shape', 'pair', 'nick'],
      additionalProperties: false,
    },
  },
  {
    name: 'pydantic v2: EmailStr, HttpUrl, datetime, IPv4Address, conint(gt=0), confloat(ge=0, le=1), Optional[$ref]',
    schema: {
      $defs: { Color: { enum: ['red', 'green'], title: 'Color', type: 'string' } },
      properties: {
        email: { format: 'email', title: 'Email', type: 'string' },
        site: { format: 'uri', maxLength: 2083, minLength: 1, title: 'Site', type: 'string' },
        at: { format: 'date-time', title: 'At', type: 'string' },
        ip: { format: 'ipv4', title: 'Ip', type: 'string' },
        n: { exclusiveMinimum: 0, title: 'N', type: 'integer', maximum: 500 },
        ratio: { maximum: 1, minimum: 0, title: 'Ratio', type: 'number' },
        color: { anyOf: [{ $ref: '#/$defs/Color' }, { type: 'null' }], default: null },
      },
      required: ['email', 'site', 'at', 'ip', 'n', 'ratio'],
      title: 'Contact',
      type: 'object',
    },
  },
  {
    name: 'optional properties around one required',
    schema: { type: 'object', properties: { a: { type: 'integer', minimum: -50, maximum: 50 }, b: { type: 'boolean' }, c: { type: 'string', maxLength: 3 }, d: { type: 'array', items: { enum: [1, 2] }, maxItems: 2 } }, required: ['b'] },
  },
];
