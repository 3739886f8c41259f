import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantLimits } from '../protocol/tenant-limits.ts';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
let client: Anthropic;

beforeAll(async () => {
  f = await startFabric({ maxBacklog: 2 });
  await f.addWorker({ tokensPerSecond: 0 }, { preload: ['fake-small:latest'] });
  client = new Anthropic({ baseURL: f.url, apiKey: 'unused', maxRetries: 0 });
  await waitFor(async () => (await call(f.url, '/v1/models')).json.data.find((m: any) => m.id === 'fake-small:latest')?.resident_on.length > 0);
});
afterAll(async () => f?.close());

const user = (content: string) => [{ role: 'user' as const, content }];
const job = async (id: string) => (await call(f.url, `/v1/jobs/${id}`)).json;

describe('Anthropic Messages through the chat jobs', () => {
  it('answers a message with text content, usage, stop_reason and the job behind it', async () => {
    // This SDK's types no longer list the sampling fields; the API still takes them, and so does the fabric.
    const sampling = { temperature: 0.3, top_p: 0.9, top_k: 20 } as object;
    const { data, response } = await client.messages.create({ model: 'fake-small', max_tokens: 5, messages: user('hello there'), metadata: { user_id: 'u-1' }, ...sampling }).withResponse();
    const jobId = response.headers.get('x-fabric-job-id')!;
    expect(data).toMatchObject({ id: `msg_${jobId}`, type: 'message', role: 'assistant', model: 'fake-small:latest', stop_reason: 'max_tokens', stop_sequence: null });
    expect(data.content).toHaveLength(1);
    expect(data.content[0]!.type).toBe('text');
    expect((data.content[0] as Anthropic.TextBlock).text.split(' ')).toHaveLength(5);
    expect(data.usage).toMatchObject({ input_tokens: 2, output_tokens: 5 });
    expect(await job(jobId)).toMatchObject({ status: 'succeeded', task: 'chat', input: { options: { num_predict: 5, temperature: 0.3, top_p: 0.9, top_k: 20 } } });
  });

  it('puts the system prompt, as a string or text blocks, first in the chat', async () => {
    for (const system of ['be brief', [{ type: 'text' as const, text: 'be ' }, { type: 'text' as const, text: 'brief' }]]) {
      const { response } = await client.messages.create({ model: 'fake-small', max_tokens: 2, system, messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }).withResponse();
      const j = await job(response.headers.get('x-fabric-job-id')!);
      expect(j.input.messages).toEqual([{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }]);
    }
  });

  it('passes stop_sequences to the engine and ends with stop_reason stop_sequence naming the one that cut the answer', async () => {
    const whole = await client.messages.create({ model: 'fake-small', max_tokens: 8, messages: user('say words') });
    expect(whole).toMatchObject({ stop_reason: 'max_tokens', stop_sequence: null });
    const words = (whole.content[0] as Anthropic.TextBlock).text.split(' ');
    const cut = await client.messages.create({ model: 'fake-small', max_tokens: 8, messages: user('say words'), stop_sequences: ['never appears', ` ${words[3]}`] }).withResponse();
    expect(cut.data).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: ` ${words[3]}` });
    const streamed = await client.messages.stream({ model: 'fake-small', max_tokens: 8, messages: user('say words'), stop_sequences: [` ${words[3]}`] }).finalMessage();
    expect(streamed).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: ` ${words[3]}` });
    expect((cut.data.content[0] as Anthropic.TextBlock).text).toBe(words.slice(0, 3).join(' '));
    expect((await job(cut.response.headers.get('x-fabric-job-id')!)).input.options.stop).toEqual(['never appears', ` ${words[3]}`]);
  });

  it('streams events in Anthropic\'s order whose text deltas add up to the final message', async () => {
    const body = { model: 'fake-small', max_tokens: 6, messages: user('stream me') };
    const whole = await client.messages.create(body);
    const stream = client.messages.stream(body);
    const types: string[] = [];
    let text = '';
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
    }
    const final = await stream.finalMessage();
    expect(types.slice(0, 2)).toEqual(['message_start', 'content_block_start']);
    expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(types.slice(2, -3).every((t) => t === 'content_block_delta')).toBe(true);
    // The token sink may batch an instant engine's tokens, so count deltas only as some.
    expect(types.filter((t) => t === 'content_block_delta').length).toBeGreaterThan(0);
    expect(text).toBe((whole.content[0] as Anthropic.TextBlock).text);
    expect(final.content).toEqual(whole.content);
    expect(final.stop_reason).toBe('max_tokens');
    expect(final.usage).toMatchObject({ input_tokens: 2, output_tokens: 6 });
    // The raw stream has Anthropic's event lines, the ping included.
    const raw = await fetch(`${f.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
    expect(raw.headers.get('x-fabric-job-id')).toMatch(/^job_/);
    const names = [...(await raw.text()).matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(names.slice(0, 3)).toEqual(['message_start', 'ping', 'content_block_start']);
  });

  it('sends a job that fails mid-stream as an error event in Anthropic\'s shape', async () => {
    const raw = await fetch(`${f.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'fake-small', max_tokens: 4, stream: true, messages: user('FAIL:invalid_request') }) });
    expect(raw.status).toBe(200);
    const events = (await raw.text()).split('\n\n').filter(Boolean);
    const last = events.at(-1)!;
    expect(last).toMatch(/^event: error\n/);
    expect(JSON.parse(last.split('\ndata: ')[1]!)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    // The SDK's stream helper raises it.
    const viaSdk = await client.messages.stream({ model: 'fake-small', max_tokens: 4, messages: user('FAIL:invalid_request') }).finalMessage().catch((e) => e);
    expect(viaSdk).toBeInstanceOf(Anthropic.APIError);
    expect(viaSdk.error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });

  it('counts input tokens (an estimate: the lower bound submit checks contexts with)', async () => {
    const n = await client.messages.countTokens({ model: 'fake-small', system: 'x'.repeat(64), messages: user('y'.repeat(64)) });
    expect(n).toEqual({ input_tokens: 4 });
    const unknown = await client.messages.countTokens({ model: 'no-such-model', messages: user('x') }).catch((e) => e);
    expect(unknown).toBeInstanceOf(Anthropic.NotFoundError);
  });

  it('cancels the job when a streaming client goes away', async () => {
    const slow = await f.addWorker({ tokensPerSecond: 20, models: [{ name: 'fake-slow:latest', sizeBytes: 1e9 }] }, { preload: ['fake-slow:latest'] });
    await waitFor(async () => (await call(f.url, '/v1/models')).json.data.find((m: any) => m.id === 'fake-slow:latest')?.resident_on.length > 0);
    const stream = client.messages.stream({ model: 'fake-slow', max_tokens: 500, messages: user('long') });
    let deltas = 0;
    let jobId = '';
    for await (const ev of stream) {
      if (ev.type === 'message_start') jobId = ev.message.id.replace(/^msg_/, '');
      if (ev.type === 'content_block_delta' && ++deltas === 3) break; // leaving the loop aborts the request
    }
    const j = await waitFor(async () => {
      const r = await job(jobId);
      return r.status === 'canceled' ? r : null;
    }, 10_000, 50);
    expect(j.status).toBe('canceled');
    await slow.close();
  });
});

describe('Anthropic Messages errors', () => {
  it('refuses a missing max_tokens and unknown fields with invalid_request_error', async () => {
    const err = await client.messages.create({ model: 'fake-small', messages: user('x') } as any).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(err.error.error.message).toContain('max_tokens');
    const extra = await call(f.url, '/v1/messages', { body: { model: 'fake-small', max_tokens: 1, messages: user('x'), frequency_penalty: 1 } });
    expect(extra.status).toBe(400);
    expect(extra.json).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'frequency_penalty: Extra inputs are not permitted' } });
  });

  it('answers an unknown model with 404 not_found_error', async () => {
    const err = await client.messages.create({ model: 'no-such-model', max_tokens: 1, messages: user('x') }).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect(err.error.error.type).toBe('not_found_error');
  });

  it('refuses tools, thinking and images on an engine that cannot serve them, naming the field and the engine', async () => {
    const tools = await client.messages.create({ model: 'fake-small', max_tokens: 1, messages: user('x'), tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: { type: 'any' } }).catch((e) => e);
    expect(tools).toBeInstanceOf(Anthropic.BadRequestError);
    expect(tools.error.error.message).toMatch(/^tools: forced tool calls are not supported on the fake engine/);
    const auto = await client.messages.create({ model: 'fake-small', max_tokens: 1, messages: user('x'), tools: [{ name: 'f', input_schema: { type: 'object' } }] }).catch((e) => e);
    expect(auto.error.error.message).toMatch(/^tool_choice: automatic tool choice .* fake engine/);
    const thinking = await client.messages.create({ model: 'fake-small', max_tokens: 2000, messages: user('x'), thinking: { type: 'enabled', budget_tokens: 1024 } }).catch((e) => e);
    expect(thinking.error.error.message).toMatch(/^thinking: reasoning \(think\) is not supported on the fake engine/);
    const image = await client.messages
      .create({ model: 'fake-small', max_tokens: 1, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AA==' } }] }] })
      .catch((e) => e);
    expect(image.error.error.message).toMatch(/^messages: images are not supported on the fake engine/);
    // tool_choice none is no tool use at all: accepted.
    const none = await client.messages.create({ model: 'fake-small', max_tokens: 1, messages: user('x'), tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: { type: 'none' } });
    expect(none.type).toBe('message');
  });

  it('answers a full backlog with 529 overloaded_error and retry-after', async () => {
    // fake-large is not resident: two queued jobs fill its backlog bound of 2.
    for (let i = 0; i < 2; i++) expect((await call(f.url, '/v1/jobs', { body: { model: 'fake-large', input: { prompt: `block ${i}` } } })).status).toBe(202);
    const err = await client.messages.create({ model: 'fake-large', max_tokens: 1, messages: user('x') }).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err.status).toBe(529);
    expect(err.error.error.type).toBe('overloaded_error');
    expect(err.headers.get('retry-after')).toBe('1');
  });

  it('takes the key from x-api-key, runs the message as that tenant\'s job under its limits, and answers a bad key with 401', async () => {
    const g = await startFabric({ apiKeys: new Map([['key-a', 'team-a'], ['key-b', 'team-b']]), tenantLimits: tenantLimits({ tenants: { 'team-a': { requestsPerSecond: 0.01, burst: 2 } } }) });
    try {
      await g.addWorker({ tokensPerSecond: 0 }, { preload: ['fake-small:latest'] });
      await waitFor(async () => (await call(g.url, '/v1/models', { headers: { 'x-api-key': 'key-b' } })).json.data.find((m: any) => m.id === 'fake-small:latest')?.resident_on.length > 0);
      const a = new Anthropic({ baseURL: g.url, apiKey: 'key-a', maxRetries: 0 });
      const { response } = await a.messages.create({ model: 'fake-small', max_tokens: 2, messages: user('mine') }).withResponse();
      const path = `/v1/jobs/${response.headers.get('x-fabric-job-id')}`;
      expect((await call(g.url, path, { headers: { 'x-api-key': 'key-a' } })).status).toBe(200);
      expect((await call(g.url, path, { headers: { authorization: 'Bearer key-b' } })).status).toBe(404);
      // The burst of 2 is spent (the message and the read): the next message is over the rate.
      const limited = await a.messages.create({ model: 'fake-small', max_tokens: 2, messages: user('again') }).catch((e) => e);
      expect(limited).toBeInstanceOf(Anthropic.RateLimitError);
      expect(limited.error.error.type).toBe('rate_limit_error');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const bad = new Anthropic({ baseURL: g.url, apiKey: 'wrong', maxRetries: 0 });
      const err = await bad.messages.countTokens({ model: 'fake-small', messages: user('x') }).catch((e) => e);
      expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
      expect(err.error).toEqual({ type: 'error', error: { type: 'authentication_error', message: 'invalid API key' } });
    } finally {
      await g.close();
    }
  });
});
