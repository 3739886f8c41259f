/**
 * Response schemas at the API: refused at submit time (400, nothing queued) where the model's
 * engine would loosen them, passed through to Ollama, which enforces them itself, and enforced
 * end to end on the llama.cpp engine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ensureDemoModels } from '../worker/engines/llama-cpp/demo-models.ts';
import { LlamaCppEngine } from '../worker/engines/llama-cpp/llama-cpp-engine.ts';
import { call, log, startFabric, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
let dir: string;
let client: OpenAI;
const OLLAMA_MODEL = 'served-by-ollama:latest';
const chat = (content: string) => [{ role: 'user' as const, content }];
/** `pattern` with a lookahead: no grammar can hold it. */
const UNENFORCEABLE = { type: 'object', properties: { code: { type: 'string', pattern: '^(?=A)[A-Z]+$' } }, required: ['code'] };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'schema-api-'));
  await ensureDemoModels(dir);
  f = await startFabric();
  await f.addWorker(new LlamaCppEngine({ modelsDir: dir, threads: 1, contextSize: 512, slotsPerModel: 2 }, { logger: log }), { preload: ['demo-tiny:latest'] });
  // A model only an Ollama server holds; no worker runs it here, so its jobs just wait in their queue.
  const entry = { name: OLLAMA_MODEL, sizeBytes: 1e9, engine: 'ollama', family: null, parameterSize: null, quantization: null, digest: null, modifiedAt: '', contextLength: null, estimatedBytes: null };
  await f.redis.hset(f.keys.catalog(), OLLAMA_MODEL, JSON.stringify(entry));
  client = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}, 60_000);
afterAll(async () => {
  await f?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('schemas refused at submit time', () => {
  it('answers the job API with 400 invalid_request naming the keyword and path, and queues nothing', async () => {
    const r = await call(f.url, '/v1/jobs', { body: { model: 'demo-tiny', task: 'chat', input: { messages: chat('hi'), format: UNENFORCEABLE } } });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('invalid_request');
    expect(r.json.error.message).toContain('keyword "pattern" at path "#/properties/code" cannot be enforced');
    expect(r.headers.get('location')).toBeNull();
    const models = await call(f.url, '/v1/models');
    const queue = models.json.data.find((m: { id: string }) => m.id === 'demo-tiny:latest').queue;
    expect(queue).toMatchObject({ waiting: 0 });
    expect(Object.values(queue).every((n) => n === 0), JSON.stringify(queue)).toBe(true);
  });

  it('answers OpenAI chat completions in OpenAI\'s error shape with param response_format', async () => {
    const r = await call(f.url, '/v1/chat/completions', {
      body: { model: 'demo-tiny', messages: chat('hi'), response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { n: { type: 'integer', multipleOf: 3 } } } } } },
    });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: { message: expect.stringContaining('keyword "multipleOf" at path "#/properties/n"'), type: 'invalid_request_error', param: 'response_format', code: 'invalid_request' } });
  });

  it('answers Ollama\'s chat and generate routes with 400 in Ollama\'s shape', async () => {
    for (const [path, extra] of [['/api/chat', { messages: chat('hi') }], ['/api/generate', { prompt: 'hi' }]] as const) {
      const r = await call(f.url, path, { body: { model: 'demo-tiny', stream: false, format: { type: 'string', format: 'hostname' }, ...extra } });
      expect(r.status, path).toBe(400);
      expect(r.json.error, path).toContain('keyword "format" at path "#" cannot be enforced');
    }
  });

  it('lets a schema through to a model served by Ollama, which enforces format itself', async () => {
    const r = await call(f.url, '/v1/jobs', { body: { model: OLLAMA_MODEL, task: 'chat', input: { messages: chat('hi'), format: UNENFORCEABLE } } });
    expect(r.status).toBe(202);
    await call(f.url, `/v1/jobs/${r.json.id}/cancel`, { method: 'POST' });
  });
});

describe('schemas enforced end to end on the llama.cpp engine', () => {
  it('returns a zod schema\'s object through the OpenAI SDK\'s parse helper', async () => {
    const Reply = z.object({ mood: z.enum(['calm', 'busy']), count: z.number().int().min(0).max(20), note: z.string().max(6).nullable() });
    for (const seed of [1, 2, 3]) {
      const completion = await client.chat.completions.parse({ model: 'demo-tiny', messages: chat('report'), response_format: zodResponseFormat(Reply, 'reply'), max_tokens: 200, seed });
      const parsed = completion.choices[0]!.message.parsed;
      expect(Reply.parse(parsed)).toEqual(parsed);
    }
  });

  it('runs a Pydantic-style job with anyOf null and a #/definitions reference through the job API', async () => {
    const format = { definitions: { Tag: { type: 'string', enum: ['a', 'b'] } }, type: 'object', properties: { tag: { $ref: '#/definitions/Tag' }, why: { anyOf: [{ type: 'string', maxLength: 4 }, { type: 'null' }], default: null } }, required: ['tag', 'why'] };
    const r = await call(f.url, '/v1/run', { body: { model: 'demo-tiny', task: 'generate', input: { prompt: 'json:', format, options: { num_predict: 100, seed: 4 } } } });
    expect(r.json.status).toBe('succeeded');
    const value = JSON.parse(r.json.output.response);
    expect(['a', 'b']).toContain(value.tag);
    expect(value.why === null || (typeof value.why === 'string' && [...value.why].length <= 4)).toBe(true);
  });
});
