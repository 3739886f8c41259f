import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { compileJsonSchema, describeRefusal } from '../protocol/json-schema/index.ts';
import { gbnfMatcher, gbnfSampler } from './support/gbnf-matcher.ts';
import { SCHEMA_CORPUS } from './support/schema-corpus.ts';
import { schemaErrors } from './support/schema-validator.ts';

function grammarOf(schema: unknown) {
  const r = compileJsonSchema(schema);
  if (!r.ok) throw new Error(describeRefusal(r.refusal));
  return gbnfMatcher(r.grammar);
}

function refusalOf(schema: unknown) {
  const r = compileJsonSchema(schema);
  if (r.ok) throw new Error(`expected a refusal, got a grammar:\n${r.grammar}`);
  return r.refusal;
}

/** Asserts the grammar accepts exactly `yes` among `yes` + `no`, and that ajv agrees on what it accepts. */
function expectLanguage(schema: Record<string, unknown>, yes: string[], no: string[]) {
  const g = grammarOf(schema);
  for (const text of yes) {
    expect(g.accepts(text), `accepts ${text}`).toBe(true);
    expect(schemaErrors(schema, JSON.parse(text)), `ajv on ${text}`).toBeNull();
  }
  for (const text of no) expect(g.accepts(text), `rejects ${text}`).toBe(false);
}

describe('schemas that must be enforced in full', () => {
  it('enforces Pydantic Optional[str] as a string or null, not null alone', () => {
    expectLanguage({ anyOf: [{ type: 'string' }, { type: 'null' }], default: null, title: 'Name' }, ['"abc"', '""', 'null'], ['1', 'true', '"a']);
  });

  it('merges allOf at the root with a #/definitions reference', () => {
    const schema = {
      definitions: { A: { type: 'object', properties: { a: { type: 'string', maxLength: 2 } }, required: ['a'] } },
      allOf: [{ $ref: '#/definitions/A' }, { type: 'object', properties: { b: { type: 'integer' } }, required: ['b'] }],
    };
    expectLanguage(schema, ['{"a":"x","b":1}', '{"a": "", "b": -3}'], ['null', '{"a":"x"}', '{"b":1}', '{"a":"xyz","b":1}']);
  });

  it('resolves #/$defs and recursive references to the root', () => {
    expectLanguage({ $defs: { N: { type: 'integer', minimum: 0, maximum: 3 } }, type: 'array', items: { $ref: '#/$defs/N' }, maxItems: 2 }, ['[]', '[0,3]', '[1, 2]'], ['[4]', '[1,2,3]', '[-1]']);
    const tree = { type: 'object', properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#' } } }, required: ['v', 'kids'], additionalProperties: false };
    expectLanguage(tree, ['{"v":1,"kids":[]}', '{"v":1,"kids":[{"v":2,"kids":[{"v":3,"kids":[]}]}]}'], ['{"v":1,"kids":[{}]}', '{"v":1}']);
  });

  it('places commas right whichever optional properties are present', () => {
    const schema = { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'boolean' }, c: { type: 'null' } }, required: ['b'] };
    expectLanguage(schema, ['{"b":true}', '{"a":1,"b":false}', '{"b":true,"c":null}', '{"a":1,"b":true,"c":null}'], ['{}', '{"a":1}', '{,"b":true}', '{"b":true,}', '{"a":1"b":true}']);
    expectLanguage({ type: 'object', properties: { a: { type: 'integer' }, b: { type: 'boolean' } } }, ['{}', '{"a":1}', '{"b":true}', '{"a":1,"b":true}'], ['{,}', '{"b":true,"a":1}']);
  });

  it('spells exactly the integers within bounds, inclusive and exclusive, negative and positive', () => {
    const cases: Array<[Record<string, number | boolean>, number, number]> = [
      [{ minimum: 0, exclusiveMinimum: true, maximum: 10, exclusiveMaximum: true }, 1, 9], // draft 4's boolean form
      [{ minimum: 0, maximum: 130 }, 0, 130],
      [{ minimum: 7, maximum: 1234 }, 7, 1234],
      [{ minimum: -1234, maximum: -7 }, -1234, -7],
      [{ exclusiveMinimum: -10, exclusiveMaximum: 100 }, -9, 99],
      [{ minimum: 95 }, 95, Infinity],
      [{ maximum: -95 }, -Infinity, -95],
      [{ minimum: 1.5, maximum: 9.5 }, 2, 9],
    ];
    for (const [bounds, lo, hi] of cases) {
      const g = grammarOf({ type: 'integer', ...bounds });
      for (let n = -1500; n <= 1500; n++) expect(g.accepts(String(n)), `${JSON.stringify(bounds)} on ${n}`).toBe(n >= lo && n <= hi);
      expect(g.accepts('01')).toBe(false);
      expect(g.accepts('-0')).toBe(false);
    }
  });

  it('keeps numbers within integer bounds, fractions included', () => {
    const cases: Array<Record<string, number>> = [{ minimum: 0, maximum: 1 }, { minimum: -1, maximum: 1 }, { exclusiveMinimum: 0, exclusiveMaximum: 10 }, { minimum: -5, exclusiveMaximum: -2 }, { exclusiveMinimum: -3 }];
    const samples = ['0', '1', '-1', '0.5', '1.5', '-0.5', '0.0', '9.99', '10', '-2', '-2.5', '-5', '-5.1', '-3', '-2.999', '-0', '12', '1.000000001'];
    for (const bounds of cases) {
      const g = grammarOf({ type: 'number', ...bounds });
      const accepted = samples.filter((s) => g.accepts(s));
      for (const s of accepted) expect(schemaErrors({ type: 'number', ...bounds }, JSON.parse(s)), `${JSON.stringify(bounds)} on ${s}`).toBeNull();
      expect(accepted.length, JSON.stringify(bounds)).toBeGreaterThan(2);
    }
    expect(grammarOf({ type: 'number', minimum: 0, maximum: 1 }).accepts('0.25')).toBe(true);
  });

  it('bounds string lengths in characters, escapes counting as one', () => {
    expectLanguage({ type: 'string', minLength: 2, maxLength: 3 }, ['"ab"', '"abc"', '"a\\"b"', '"é€"'], ['"a"', '"abcd"', '"\\ud83d\\ude00"']);
  });

  it('translates patterns: classes, groups, alternation, quantifiers and escaped quotes', () => {
    expectLanguage({ type: 'string', pattern: '^[A-Z]{3}-\\d{3}$' }, ['"ABC-123"'], ['"AB-123"', '"abc-123"', '"ABC-1234"']);
    expectLanguage({ type: 'string', pattern: '^(cat|dog)s?( [a-z]+)*$' }, ['"cat"', '"dogs"', '"cat and mouse"'], ['"cow"', '"cat "']);
    expectLanguage({ type: 'string', pattern: '^say "\\w+"\\.$' }, ['"say \\"hi\\"."'], ['"say hi."']);
    expectLanguage({ type: 'string', pattern: 'abc' }, ['"abc"'], ['"ab"']);
    expectLanguage({ type: 'string', pattern: '^é+😀[^a-z]$' }, ['"éé😀Z"', '"é😀É"'], ['"😀Z"', '"é😀a"', '"é😀\\""']);
    expectLanguage({ type: 'string', pattern: '^a\\tb.$' }, ['"a\\tbx"'], ['"a\\tb\\n"']);
  });

  it('enforces date, date-time, uuid and zod\'s format patterns with formats a validator accepts', () => {
    const zodSchema = z.toJSONSchema(z.object({ day: z.iso.date(), at: z.iso.datetime(), id: z.uuid() })) as Record<string, unknown>;
    expectLanguage(zodSchema, ['{"day":"2024-02-28","at":"2024-01-31T23:59:59.5Z","id":"123e4567-e89b-42d3-a456-426614174000"}'], ['{"day":"2024-02-30","at":"2024-01-31T23:59:59Z","id":"123e4567-e89b-42d3-a456-426614174000"}']);
  });

  it('enforces zod\'s email, ipv4, offset date-time and time patterns, and Pydantic\'s URL with its length bounds', () => {
    const zodSchema = z.toJSONSchema(z.object({ e: z.email(), i: z.ipv4(), d: z.iso.datetime({ offset: true }), t: z.iso.time(), u: z.url() })) as Record<string, unknown>;
    expect(compileJsonSchema(zodSchema).ok).toBe(true);
    expectLanguage({ type: 'string', format: 'uri', minLength: 1, maxLength: 2083 }, ['"https://example.org/a/b-c"'], ['"example.org"']);
    expectLanguage({ type: 'string', format: 'email' }, ['"a.b@c.io"'], ['"a@b"']);
    expectLanguage({ type: 'string', pattern: (zodSchema.properties as Record<string, { pattern: string }>).t!.pattern }, ['"23:59"', '"00:00:07.25"'], ['"24:00"']);
    expect(refusalOf({ type: 'string', format: 'date', maxLength: 8 })).toMatchObject({ keyword: 'maxLength' });
  });

  it('enforces oneOf whose branches a type or a constant property tells apart', () => {
    const zodSchema = z.toJSONSchema(z.discriminatedUnion('t', [z.object({ t: z.literal('a'), n: z.number() }), z.object({ t: z.literal('b') })])) as Record<string, unknown>;
    expectLanguage(zodSchema, ['{"t":"a","n":1.5}', '{"t":"b"}'], ['{"t":"c"}', '{"t":"b","n":1}']);
    expectLanguage({ oneOf: [{ type: 'string' }, { type: 'null' }] }, ['"x"', 'null'], ['1']);
  });

  it('enforces Pydantic\'s discriminated union: oneOf of $refs with a discriminator', () => {
    const pet = (kind: string, extra: Record<string, unknown>) => ({ properties: { pet_type: { const: kind, title: 'Pet Type', type: 'string' }, ...extra }, required: ['pet_type', ...Object.keys(extra)], title: kind, type: 'object' });
    const schema = {
      $defs: { Cat: pet('cat', { meows: { type: 'integer', minimum: 0, maximum: 9 } }), Dog: pet('dog', { barks: { type: 'number', minimum: 0, maximum: 1 } }) },
      properties: { pet: { discriminator: { mapping: { cat: '#/$defs/Cat', dog: '#/$defs/Dog' }, propertyName: 'pet_type' }, oneOf: [{ $ref: '#/$defs/Cat' }, { $ref: '#/$defs/Dog' }], title: 'Pet' } },
      required: ['pet'],
      title: 'Model',
      type: 'object',
    };
    expectLanguage(schema, ['{"pet":{"pet_type":"cat","meows":3}}', '{"pet":{"pet_type":"dog","barks":0.5}}'], ['{"pet":{"pet_type":"cat","barks":0.5}}', '{"pet":{"pet_type":"cat","meows":10}}']);
  });

  it('drops optional properties another allOf branch forbids, and refuses required ones', () => {
    const closed = { type: 'object', properties: { a: { type: 'integer' } }, additionalProperties: false };
    expectLanguage({ allOf: [closed, { properties: { b: { type: 'string' } } }] }, ['{}', '{"a":1}'], ['{"a":1,"b":"x"}']);
    expect(refusalOf({ allOf: [closed, { properties: { b: { type: 'string' } }, required: ['b'] }] })).toMatchObject({ keyword: 'allOf', path: '#' });
  });

  it('compiles every schema of the corpus', () => {
    for (const { name, schema } of SCHEMA_CORPUS) expect(compileJsonSchema(schema).ok, name).toBe(true);
  });
});

describe('schemas that are refused, naming the keyword and its path', () => {
  const cases: Array<[string, unknown, string, string]> = [
    ['not', { not: { type: 'string' } }, 'not', '#'],
    ['if/then', { if: { type: 'string' }, then: { minLength: 1 } }, 'if', '#'],
    ['patternProperties', { type: 'object', patternProperties: { '^x': {} } }, 'patternProperties', '#'],
    ['multipleOf', { type: 'object', properties: { n: { type: 'integer', multipleOf: 5 } } }, 'multipleOf', '#/properties/n'],
    ['a number bound that is not an integer', { type: 'number', minimum: 0.5 }, 'minimum', '#'],
    ['a lookahead', { type: 'string', pattern: '^(?=a)a+$' }, 'pattern', '#'],
    ['a backreference', { type: 'string', pattern: '^(a)\\1$' }, 'pattern', '#'],
    ['an unsupported format', { type: 'string', format: 'hostname' }, 'format', '#'],
    ['a remote reference', { $ref: 'https://example.com/s.json' }, '$ref', '#'],
    ['a reference that does not resolve', { $ref: '#/$defs/missing' }, '$ref', '#'],
    ['uniqueItems', { type: 'array', uniqueItems: true }, 'uniqueItems', '#'],
    ['OpenAPI nullable', { type: 'string', nullable: true }, 'nullable', '#'],
    ['overlapping oneOf', { oneOf: [{ type: 'integer' }, { type: 'number' }] }, 'oneOf', '#'],
    ['a pattern beside a length', { type: 'string', pattern: '^a+$', maxLength: 3 }, 'maxLength', '#'],
    ['allOf recursing into itself', { $defs: { A: { allOf: [{ $ref: '#/$defs/A' }] } }, $ref: '#/$defs/A' }, '$ref', '#/$defs/A/allOf/0'],
    ['a reference to itself before any value', { $defs: { D: { anyOf: [{ $ref: '#/$defs/D' }, { type: 'null' }] } }, $ref: '#/$defs/D' }, '$ref', '#/$defs/D/anyOf/0'],
    ['a required property holding its own object', { $defs: { D: { type: 'object', properties: { next: { $ref: '#/$defs/D' } }, required: ['next'] } }, $ref: '#/$defs/D' }, '$ref', '#/$defs/D'],
    ['an integer range with no integer', { type: 'integer', minimum: 1.2, maximum: 1.8 }, 'maximum', '#'],
    ['an unknown keyword inside a definition', { $defs: { X: { type: 'string', fancy: 1 } }, $ref: '#/$defs/X' }, 'fancy', '#/$defs/X'],
  ];
  it.each(cases)('refuses %s', (_name, schema, keyword, path) => {
    const r = refusalOf(schema);
    expect(r).toMatchObject({ keyword, path });
    expect(describeRefusal(r)).toContain(`keyword "${keyword}" at path "${path}" cannot be enforced`);
  });
});

/** Deterministic random numbers (mulberry32), so a failure names a seed that reproduces it. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('random draws from the grammars', () => {
  const shapes: Array<[string, Record<string, unknown>]> = [
    ...SCHEMA_CORPUS.map((c): [string, Record<string, unknown>] => [c.name, c.schema]),
    ['any value', {}],
    ['a map of bounded integers', { type: 'object', additionalProperties: { type: 'integer', minimum: -3, maximum: 1234 } }],
    ['a recursive tree', { type: 'object', properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#' }, maxItems: 2 } }, required: ['v', 'kids'] }],
    ['numbers in awkward ranges', { type: 'array', prefixItems: [{ type: 'number', exclusiveMinimum: -1234, maximum: 99 }, { type: 'number', minimum: -7, exclusiveMaximum: -3 }, { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 }, { type: 'integer', exclusiveMaximum: -99 }], items: false }],
    ['a tuple with extra items', { type: 'array', prefixItems: [{ const: 'x' }], items: { type: 'boolean' }, minItems: 2, maxItems: 5 }],
    ['strings under patterns', { type: 'array', prefixItems: [{ type: 'string', pattern: '^(?:é+|😀{2,3})[^a-z"\\\\][\\d\\s\\w.]*\\.?$' }, { type: 'string', pattern: '\\S\\W\\D+' }, { type: 'string', pattern: '^[^"]{2}"$' }], items: false }],
    ['every format', { type: 'array', prefixItems: ['date', 'time', 'date-time', 'uuid', 'email', 'ipv4', 'uri'].map((format) => ({ type: 'string', format })), items: false }],
    ['enums with JSON specials', { enum: ['a"b', 'c\\d', 'line\nbreak', null, 3, { k: [1] }] }],
    ['allOf narrowing types and bounds', { allOf: [{ type: ['integer', 'string'], minimum: 0 }, { type: ['number', 'null'], maximum: 5 }] }],
    ['properties with odd names', { type: 'object', properties: { 'a"b': { type: 'null' }, 'c/d~e': { type: 'boolean' }, 'ключ': { const: 1 } }, required: ['a"b'] }],
  ];

  it.each(shapes)('draws only valid values from %s', (_name, schema) => {
    const r = compileJsonSchema(schema);
    if (!r.ok) throw new Error(describeRefusal(r.refusal));
    const sampler = gbnfSampler(r.grammar);
    const random = rng(42);
    for (let i = 0; i < 300; i++) {
      const text = sampler.sample(random);
      expect(schemaErrors(schema, JSON.parse(text)), text).toBeNull();
    }
  });
});

/** A random regular expression from the supported subset (and a few refused constructs). */
function randomRegex(r: () => number, depth: number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const atom = (): string =>
    depth > 0 && r() < 0.3
      ? `(${pick(['', '?:'])}${randomRegex(r, depth - 1)})`
      : pick(['a', 'b', '\\.', '\\d', '\\w', '\\s', '\\D', '\\W', '\\S', '.', '[a-c]', '[^a"]', '[\\d_-]', '[^\\s]', '"', '\\\\', 'é', '😀', '\\u0041', '\\t', '\\b', '(?=a)']);
  const quantifier = () => pick(['', '', '*', '+', '?', '{2}', '{1,3}', '{0,}', '+?']);
  const seq = () => Array.from({ length: 1 + Math.floor(r() * 3) }, () => atom() + quantifier()).join('');
  const body = r() < 0.3 ? `${seq()}|${seq()}` : seq();
  return depth === 2 ? `${r() < 0.5 ? '^' : ''}${body}${r() < 0.5 ? '$' : ''}` : body;
}

/** A random schema from a palette of the keywords clients send, nested up to `depth`. */
function randomSchema(r: () => number, depth: number): Record<string, unknown> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const child = () => (depth > 0 ? randomSchema(r, depth - 1) : { type: pick(['string', 'integer', 'boolean', 'null']) });
  const kinds = [
    () => ({ type: 'string', ...(r() < 0.5 ? { minLength: int(0, 3) } : {}), ...(r() < 0.5 ? { maxLength: int(3, 8) } : {}) }),
    () => ({ type: 'string', pattern: r() < 0.3 ? pick(['^[a-c]{1,3}$', '^x(y|z)*$', '\\d+', '^[^,]{0,4}$']) : randomRegex(r, 2) }),
    () => ({ type: pick(['integer', 'number']), ...(r() < 0.6 ? { [pick(['minimum', 'exclusiveMinimum'])]: int(-20, 5) } : {}), ...(r() < 0.6 ? { [pick(['maximum', 'exclusiveMaximum'])]: int(6, 300) } : {}) }),
    () => ({ enum: [pick(['a', 1, null, true]), pick(['b', 2.5, false, 'c"d'])] }),
    () => ({ const: pick(['k', 0, null, [1, 'x'], { a: 1 }]) }),
    () => ({ anyOf: [child(), child()] }),
    () => ({ oneOf: [{ type: 'string', maxLength: 2 }, child()] }),
    () => ({ allOf: [child(), child()] }),
    () => ({ type: [pick(['string', 'integer', 'object']), 'null'] }),
    () => {
      const props = Object.fromEntries(Array.from({ length: int(0, 3) }, (_, i) => [`p${i}`, child()]));
      const names = Object.keys(props);
      return { type: 'object', properties: props, required: names.filter(() => r() < 0.5), ...(r() < 0.5 ? { additionalProperties: pick([false, true, child()]) } : {}) };
    },
    () => ({ type: 'array', items: child(), ...(r() < 0.5 ? { minItems: int(0, 2) } : {}), ...(r() < 0.5 ? { maxItems: int(2, 4) } : {}) }),
    () => ({ type: 'array', prefixItems: [child(), child()], ...(r() < 0.5 ? { items: pick([false, child()]) } : {}), ...(r() < 0.5 ? { maxItems: int(1, 4) } : {}), ...(r() < 0.5 ? { minItems: int(0, 3) } : {}) }),
    () => ({ $defs: { D: child() }, $ref: '#/$defs/D' }),
  ];
  return pick(kinds)();
}

// SCHEMA_FUZZ_SEED and SCHEMA_FUZZ_COUNT run other and longer draws (3,000 schemas take about a minute).
describe('random schemas', () => {
  it('either compile to a grammar whose draws validate, or are refused; nothing else', () => {
    const r = rng(Number(process.env.SCHEMA_FUZZ_SEED ?? 7));
    let compiled = 0;
    let judged = 0;
    let refused = 0;
    for (let i = 0; i < Number(process.env.SCHEMA_FUZZ_COUNT ?? 400); i++) {
      const schema = randomSchema(r, 2);
      const result = compileJsonSchema(schema);
      if (!result.ok) {
        refused++;
        continue;
      }
      compiled++;
      try {
        schemaErrors(schema, null);
      } catch {
        continue; // a schema ajv itself cannot compile (nested $defs it does not resolve): no judge
      }
      judged++;
      const sampler = gbnfSampler(result.grammar);
      for (let j = 0; j < 20; j++) {
        const text = sampler.sample(r);
        expect(schemaErrors(schema, JSON.parse(text)), `${JSON.stringify(schema)} drew ${text}`).toBeNull();
      }
    }
    console.log(`random schemas: ${compiled} compiled, ${judged} of them judged by ajv (20 draws each, all valid), ${refused} refused`);
    expect(compiled).toBeGreaterThan(200);
  }, 600_000);
});
