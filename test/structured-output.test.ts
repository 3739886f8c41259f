/**
 * Structured outputs through the real llama.cpp engine: demo models have random weights, so
 * only the grammar makes their output JSON; every output is judged by ajv against its schema.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../protocol/errors.ts';
import { createLogger } from '../protocol/logger.ts';
import { getLlama } from 'node-llama-cpp';
import { ensureDemoModels } from '../worker/engines/llama-cpp/demo-models.ts';
import { LlamaCppEngine } from '../worker/engines/llama-cpp/llama-cpp-engine.ts';
import { formatGrammar } from '../worker/engines/llama-cpp/request-params.ts';
import { SCHEMA_CORPUS } from './support/schema-corpus.ts';
import { schemaErrors } from './support/schema-validator.ts';

const MODEL = 'demo-tiny';
/** Generations per schema: with the corpus's eight schemas, 120 outputs. */
const RUNS = 15;

let dir: string;
let engine: LlamaCppEngine;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'structured-output-'));
  await ensureDemoModels(dir);
  engine = new LlamaCppEngine({ modelsDir: dir, threads: 1, contextSize: 512, slotsPerModel: 1 }, { logger: createLogger('structured-output-test', 'silent') });
  await engine.load(MODEL);
}, 120_000);

afterAll(async () => {
  await engine?.close();
  await rm(dir, { recursive: true, force: true });
});

function generate(format: Record<string, unknown>, seed: number, temperature = 1) {
  return engine.generate({
    model: MODEL,
    task: 'generate',
    prompt: 'Answer in JSON:',
    format,
    options: { num_predict: 400, seed, temperature, ...(temperature > 1 ? { top_k: 0, top_p: 1 } : {}) },
    signal: new AbortController().signal,
    onToken: () => undefined,
  });
}

describe('structured outputs on the llama.cpp engine', () => {
  it('produces only outputs that validate against their schema', async () => {
    let valid = 0;
    let total = 0;
    const failures: string[] = [];
    for (const { name, schema } of SCHEMA_CORPUS) {
      let validHere = 0;
      const distinct = new Set<string>();
      for (let seed = 1; seed <= RUNS; seed++) {
        total++;
        // Odd seeds sample as Ollama's defaults do; even ones nearly uniformly among what the grammar allows.
        const result = await generate(schema, seed, seed % 2 === 0 ? 20 : 1);
        distinct.add(result.text.replace(/\s/g, ''));
        let errors: string | null;
        try {
          errors = result.doneReason !== 'stop' ? `ran out of tokens (${result.completionTokens})` : schemaErrors(schema, JSON.parse(result.text));
        } catch (err) {
          errors = `not JSON: ${(err as Error).message}`;
        }
        if (errors === null) validHere++;
        else failures.push(`${name} seed ${seed}: ${errors}: ${result.text}`);
      }
      valid += validHere;
      console.log(`  ${name}: valid ${validHere}/${RUNS}, ${distinct.size} distinct`);
      // A grammar that forced one value (anyOf [string, null] read as null) would validate and still be wrong.
      if (distinct.size < 2) failures.push(`${name}: only ${distinct.size} distinct outputs in ${RUNS}`);
    }
    console.log(`structured outputs valid ${valid}/${total}`);
    expect(failures).toEqual([]);
  }, 240_000);

  it('generates both branches of Pydantic\'s Optional[str], not null alone', async () => {
    const schema = SCHEMA_CORPUS[0]!.schema;
    const kinds = new Set<string>();
    // The demo model's random weights favour one token heavily; a high temperature lets the grammar's choices show.
    for (let seed = 1; seed <= 30 && kinds.size < 2; seed++) kinds.add(typeof (JSON.parse((await generate(schema, seed, 20)).text) as { name: unknown }).name);
    expect([...kinds].sort()).toEqual(['object', 'string']);
  }, 60_000);

  it('writes grammars llama.cpp parses for every shape the compiler supports', async () => {
    const llama = await getLlama({ gpu: false });
    const shapes: Array<Record<string, unknown>> = [
      ...SCHEMA_CORPUS.map((c) => c.schema),
      {},
      { type: 'object', additionalProperties: { type: 'integer', minimum: -3 } },
      { type: 'object', properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#' } } }, required: ['v', 'kids'] },
      { type: 'string', pattern: '^(?:é+|😀{2,3})[^a-z"\\\\][\\d\\s\\w.]*\\.?$' },
      { type: 'string', format: 'time' },
      { type: 'string', maxLength: 20_000 },
      { type: 'number', exclusiveMinimum: -1234, maximum: 99999 },
      { type: 'array', prefixItems: [{ const: 'x' }], items: { type: 'boolean' }, minItems: 2, maxItems: 5 },
      { enum: ['a"b', 'c\\d', null, 3, { k: [1] }] },
    ];
    for (const schema of shapes) await expect(formatGrammar(llama, schema), JSON.stringify(schema)).resolves.toBeDefined();
  });

  it('refuses a schema it cannot enforce with invalid_request naming the keyword', async () => {
    const err = await generate({ type: 'object', properties: { n: { type: 'integer', multipleOf: 3 } } }, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({ code: 'invalid_request', retryable: false });
    expect((err as Error).message).toContain('keyword "multipleOf" at path "#/properties/n"');
  });
});
