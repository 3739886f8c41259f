import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
let client: OpenAI;
/** Every request the SDK sent: method, path, body and when. */
const sent: { method: string; path: string; body: any; at: number; status?: number }[] = [];

beforeAll(async () => {
  f = await startFabric({ maxBacklog: 2 });
  await f.addWorker({ tokensPerSecond: 0, embeddingLength: 6 }, { preload: ['fake-small:latest'] });
  const recording: typeof fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const entry = { method: init?.method ?? 'GET', path: url.pathname, body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined, at: Date.now() } as (typeof sent)[number];
    sent.push(entry);
    const res = await fetch(input, init);
    entry.status = res.status;
    return res;
  };
  client = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'unused', fetch: recording, maxRetries: 2 });
  await waitFor(async () => (await call(f.url, '/v1/models')).json.data.find((m: any) => m.id === 'fake-small:latest')?.resident_on.length > 0);
});
afterAll(async () => f?.close());

const user = (content: string) => [{ role: 'user' as const, content }];

describe('OpenAI chat completions through the queues', () => {
  it('answers a chat.completion with usage, finish_reason and the job behind it', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'fake-small', messages: [{ role: 'system', content: 'be brief' }, ...user('hello there')], max_tokens: 5, seed: 3 })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe('fake-small:latest');
    expect(data.choices).toHaveLength(1);
    expect(data.choices[0]!.message.role).toBe('assistant');
    expect(data.choices[0]!.message.content!.split(' ')).toHaveLength(5);
    expect(data.choices[0]!.finish_reason).toBe('length');
    expect(data.usage).toEqual({ prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });
    const jobId = response.headers.get('x-fabric-job-id')!;
    expect(data.id).toBe(`chatcmpl-${jobId}`);
    const job = await call(f.url, `/v1/jobs/${jobId}`);
    expect(job.json).toMatchObject({ status: 'succeeded', task: 'chat', priority: 'normal', input: { options: { num_predict: 5, seed: 3 } } });
  });

  it('streams chat.completion.chunk events whose deltas add up to the non-streamed answer', async () => {
    const body = { model: 'fake-small', messages: user('stream me'), max_completion_tokens: 6, seed: 9 };
    const whole = await client.chat.completions.create(body);
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of await client.chat.completions.create({ ...body, stream: true })) chunks.push(chunk);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id)).toBe(true);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(whole.choices[0]!.message.content);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('length');
    expect(chunks.slice(0, -1).every((c) => c.choices[0]!.finish_reason === null)).toBe(true);
    expect('usage' in chunks[0]!).toBe(false);
  });

  it('adds one usage chunk with no choices before [DONE] when include_usage is set, and usage null on the others', async () => {
    const res = await fetch(`${f.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fake-small', messages: user('count'), max_tokens: 3, stream: true, stream_options: { include_usage: true } }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = (await res.text()).split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    const last = chunks.at(-1);
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual({ prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    // The SDK reads the same stream and hands over the usage chunk.
    const viaSdk: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of await client.chat.completions.create({ model: 'fake-small', messages: user('count'), max_tokens: 3, stream: true, stream_options: { include_usage: true } })) viaSdk.push(c);
    expect(viaSdk.at(-1)!.usage).toEqual(last.usage);
  });

  it('maps response_format json_object to the engine\'s JSON mode and stop to its stop option', async () => {
    const { response } = await client.chat.completions.create({ model: 'fake-small', messages: user('json please'), response_format: { type: 'json_object' }, stop: ['zzz'], temperature: 0.2 }).withResponse();
    const job = await call(f.url, `/v1/jobs/${response.headers.get('x-fabric-job-id')}`);
    expect(job.json.input).toMatchObject({ format: 'json', options: { stop: ['zzz'], temperature: 0.2 } });
  });

  it('refuses tools the engine cannot serve and n > 1 with a 400 naming the parameter instead of dropping them', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'f', parameters: {} } }];
    // Forced calls are served only where the fabric's compiler enforces the schema (llama.cpp; see openai-tools.test.ts).
    const err = await client.chat.completions.create({ model: 'fake-small', messages: user('x'), tools, tool_choice: 'required' }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.param).toBe('tools');
    expect(err.error).toMatchObject({ type: 'invalid_request_error', param: 'tools' });
    expect(err.message).toMatch(/not supported on the fake engine/);
    const auto = await client.chat.completions.create({ model: 'fake-small', messages: user('x'), tools }).catch((e) => e);
    expect(auto).toBeInstanceOf(OpenAI.BadRequestError);
    expect(auto.param).toBe('tool_choice');
    // tool_choice none: the tools are not used, the answer is text.
    const none = await client.chat.completions.create({ model: 'fake-small', messages: user('x'), tools, tool_choice: 'none', max_tokens: 2 });
    expect(typeof none.choices[0]!.message.content).toBe('string');
    const n = await client.chat.completions.create({ model: 'fake-small', messages: user('x'), n: 2 }).catch((e) => e);
    expect(n).toBeInstanceOf(OpenAI.BadRequestError);
    expect(n.param).toBe('n');
  });

  it('answers an unknown model with a NotFoundError in OpenAI\'s error shape', async () => {
    const err = await client.chat.completions.create({ model: 'no-such-model', messages: user('x') }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.code).toBe('model_not_found');
    const raw = await call(f.url, '/v1/chat/completions', { body: { model: 'no-such-model', messages: user('x') } });
    expect(Object.keys(raw.json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  });

  it('cancels the job when a streaming client aborts', async () => {
    const slow = await f.addWorker({ tokensPerSecond: 20, models: [{ name: 'fake-slow:latest', sizeBytes: 1e9 }] }, { preload: ['fake-slow:latest'] });
    await waitFor(async () => (await call(f.url, '/v1/models')).json.data.find((m: any) => m.id === 'fake-slow:latest')?.resident_on.length > 0);
    const { data: stream, response } = await client.chat.completions.create({ model: 'fake-slow', messages: user('long'), max_tokens: 500, stream: true }).withResponse();
    const jobId = response.headers.get('x-fabric-job-id')!;
    let seen = 0;
    for await (const _ of stream) if (++seen === 3) break; // leaving the loop aborts the request
    const job = await waitFor(async () => {
      const j = await call(f.url, `/v1/jobs/${jobId}`);
      return j.json.status === 'canceled' ? j.json : null;
    }, 10_000, 50);
    expect(job.status).toBe('canceled');
    await slow.close();
  });
});

describe('OpenAI completions, embeddings and models', () => {
  it('answers a text_completion and streams the same text', async () => {
    const body = { model: 'fake-small', prompt: 'once upon a time', max_tokens: 4, seed: 1 };
    const one = await client.completions.create(body);
    expect(one.object).toBe('text_completion');
    expect(one.choices[0]!.text.split(' ')).toHaveLength(4);
    expect(one.usage).toEqual({ prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 });
    let text = '';
    for await (const c of await client.completions.create({ ...body, stream: true })) text += c.choices[0]?.text ?? '';
    expect(text).toBe(one.choices[0]!.text);
  });

  it('returns embeddings as base64 float32 by default (the SDK decodes them) and as floats when asked', async () => {
    const before = sent.length;
    const b64 = await client.embeddings.create({ model: 'fake-small', input: ['first text', 'second text'] });
    expect(sent.slice(before).at(-1)!.body.encoding_format).toBe('base64');
    const floats = await client.embeddings.create({ model: 'fake-small', input: ['first text', 'second text'], encoding_format: 'float' });
    expect(b64.data).toHaveLength(2);
    expect(b64.data[1]!.index).toBe(1);
    for (const [i, d] of floats.data.entries()) {
      expect(d.embedding).toHaveLength(6);
      expect(b64.data[i]!.embedding).toEqual(d.embedding.map((x) => Math.fround(x)));
    }
    expect(floats.data[0]!.embedding).not.toEqual(floats.data[1]!.embedding);
    expect(floats.usage).toEqual({ prompt_tokens: 4, total_tokens: 4 });
    const raw = await call(f.url, '/v1/embeddings', { body: { model: 'fake-small', input: 'x', encoding_format: 'base64' } });
    expect(typeof raw.json.data[0].embedding).toBe('string');
    expect(raw.headers.get('x-fabric-job-id')).toMatch(/^job_/);
  });

  it('refuses dimensions and token-id input with a 400', async () => {
    const dims = await client.embeddings.create({ model: 'fake-small', input: 'x', dimensions: 3 }).catch((e) => e);
    expect(dims).toBeInstanceOf(OpenAI.BadRequestError);
    expect(dims.param).toBe('dimensions');
    const tokens = await client.embeddings.create({ model: 'fake-small', input: [[1, 2, 3]] }).catch((e) => e);
    expect(tokens).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('lists and retrieves models in OpenAI\'s shape, keeping the fabric\'s residency fields', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) {
      expect(m.object).toBe('model');
      expect(typeof m.created).toBe('number');
      expect(m.owned_by).toBe('fake');
      ids.push(m.id);
    }
    expect(ids).toContain('fake-small:latest');
    const one = (await client.models.retrieve('fake-small:latest')) as any;
    expect(one).toMatchObject({ id: 'fake-small:latest', object: 'model', owned_by: 'fake' });
    expect(one.resident_on.length).toBeGreaterThan(0);
    expect(one.queue).toBeDefined();
    const missing = await client.models.retrieve('nope:latest').catch((e) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    // The id is decoded once: `%25` is a literal `%`, not the start of another escape.
    for (const [path, id] of [['%25', '%'], ['%25E0%25A4', '%E0%A4']]) {
      const odd = await call(f.url, `/v1/models/${path}`);
      expect(odd.status).toBe(404);
      expect(odd.json.error).toMatchObject({ type: 'invalid_request_error', code: 'model_not_found', message: `The model '${id}' does not exist` });
    }
    expect((await call(f.url, `/v1/models/${encodeURIComponent('fake-small:latest')}`)).json.id).toBe('fake-small:latest');
  });
});

describe('OpenAI backpressure', () => {
  it('answers a full backlog with 503 and retry-after-ms, and the SDK retries after that delay', async () => {
    // fake-large is not resident: two queued jobs fill its backlog bound of 2.
    for (let i = 0; i < 2; i++) expect((await call(f.url, '/v1/jobs', { body: { model: 'fake-large', input: { prompt: `block ${i}` } } })).status).toBe(202);
    const refused = await call(f.url, '/v1/chat/completions', { body: { model: 'fake-large', messages: user('x') } });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('retry-after-ms')).toBe('1000');
    expect(refused.json.error).toMatchObject({ code: 'backlog_full', type: 'server_error' });

    const before = sent.length;
    const pending = client.chat.completions.create({ model: 'fake-large', messages: user('retry me'), max_tokens: 2 });
    // Once the first attempt is refused, load the model so the backlog drains.
    await waitFor(async () => sent.slice(before).some((s) => s.status === 503), 5_000, 10);
    expect((await call(f.url, '/v1/models/fake-large:latest/load', { method: 'POST' })).status).toBe(202);
    const done = await pending;
    expect(done.choices[0]!.message.content!.split(' ')).toHaveLength(2);
    const attempts = sent.slice(before).filter((s) => s.path === '/v1/chat/completions');
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts[0]!.status).toBe(503);
    // The SDK's own first backoff is at most 0.5 s; 1 s apart means it read retry-after-ms.
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(950);
  });
});
