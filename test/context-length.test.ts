import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startFabric, type TestFabric } from './support/fabric.ts';
import { addDemoChatWorker, demoModelsDir, removeDir } from './support/llama-worker.ts';

// demo-chat's GGUF says 2048; the worker runs it with 1024, as FABRIC_CONTEXT_SIZE would.
const CONTEXT = 1024;
// ~1,500 words: passes the submit-time lower bound (bytes / 32) yet is far over 1024 tokens.
const LONG = Array.from({ length: 1500 }, (_, i) => `word${i % 97}`).join(' ');

let f: TestFabric;
let dir: string;
let client: OpenAI;
beforeAll(async () => {
  dir = await demoModelsDir();
  f = await startFabric();
  await addDemoChatWorker(f, dir, { contextSize: CONTEXT });
  client = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}, 60_000);
afterAll(async () => {
  await f?.close();
  removeDir(dir);
});

describe('a prompt longer than the context the model runs with', () => {
  it('the catalog advertises the context the worker loads, not the file trained maximum', async () => {
    const models = await call(f.url, '/v1/models');
    const chat = models.json.data.find((m: any) => m.id === 'demo-chat:latest');
    expect(chat.context_length).toBe(CONTEXT);
    expect(chat.trained_context_length).toBe(2048);
    const ps = await call(f.url, '/api/ps');
    expect(ps.json.models.find((m: any) => m.name === 'demo-chat:latest').context_length).toBe(CONTEXT);
    const show = await call(f.url, '/api/show', { body: { model: 'demo-chat' } });
    expect(show.json.model_info['llama.context_length']).toBe(2048);
  });

  it('is a 400 context_length_exceeded on the OpenAI chat route (BadRequestError)', async () => {
    const err = await client.chat.completions.create({ model: 'demo-chat', messages: [{ role: 'user', content: LONG }], max_tokens: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(e.status).toBe(400);
    expect(e.code).toBe('context_length_exceeded');
    expect(e.param).toBe('messages');
    expect((e.error as any).type).toBe('invalid_request_error');
  });

  it('is the same 400 on a streaming OpenAI request, before any stream starts', async () => {
    const err = await client.chat.completions.create({ model: 'demo-chat', stream: true, messages: [{ role: 'user', content: LONG }], max_tokens: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('context_length_exceeded');
    const legacy = await client.completions.create({ model: 'demo-chat', prompt: LONG, max_tokens: 4 }).catch((e: unknown) => e);
    expect(legacy).toBeInstanceOf(OpenAI.BadRequestError);
    expect((legacy as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('prompt');
  });

  it('is a 400 on /api/chat, streaming or not', async () => {
    for (const stream of [true, false]) {
      const r = await call(f.url, '/api/chat', { body: { model: 'demo-chat', stream, messages: [{ role: 'user', content: LONG }], options: { num_predict: 4 } } });
      expect({ stream, status: r.status }).toEqual({ stream, status: 400 });
      expect(r.json.error).toMatch(/context/);
    }
  });

  it('is a 400 on /api/generate, streaming or not', async () => {
    for (const stream of [true, false]) {
      const r = await call(f.url, '/api/generate', { body: { model: 'demo-chat', stream, prompt: LONG, options: { num_predict: 4 } } });
      expect({ stream, status: r.status }).toEqual({ stream, status: 400 });
      expect(r.json.error).toMatch(/context/);
    }
  });

  it('is a 400 with the code on /v1/run, and an async job ends failed with that code', async () => {
    const body = { model: 'demo-chat', task: 'generate', input: { prompt: LONG, options: { num_predict: 4 } } };
    const run = await call(f.url, '/v1/run', { body });
    expect(run.status).toBe(400);
    expect(run.json.error.code).toBe('context_length_exceeded');
    expect(run.json.error.message).toMatch(/context/);
    const sub = await call(f.url, '/v1/jobs', { body });
    expect(sub.status).toBe(202);
    let rec: any;
    for (let i = 0; i < 200; i++) {
      rec = (await call(f.url, `/v1/jobs/${sub.json.id}`)).json;
      if (rec.status !== 'queued' && rec.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(rec.status).toBe('failed');
    expect(rec.error.code).toBe('context_length_exceeded');
  });

  it('refuses at submit a prompt whose lower bound is already over the advertised context', async () => {
    const huge = 'x'.repeat(32 * (CONTEXT + 10));
    const r = await call(f.url, '/api/generate', { body: { model: 'demo-chat', stream: false, prompt: huge } });
    expect(r.status).toBe(400);
  });

  it('a prompt that fits still succeeds', async () => {
    const r = await client.chat.completions.create({ model: 'demo-chat', messages: [{ role: 'user', content: 'hi there' }], max_tokens: 4 });
    expect(r.choices[0]!.finish_reason).toBe('length');
  });
});
