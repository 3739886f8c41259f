/**
 * Stored and background responses through the official `openai` client: polling, cancel,
 * resuming a stream with `starting_after` (also from a second API process), delete,
 * input_items pages, tenants, expiry, and refusals. The llama.cpp demo model answers; a slow
 * fake engine holds the responses that must still be running when cancelled or left.
 */
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../producer-api/app.ts';
import { apiConfigFromEnv } from '../producer-api/settings/config.ts';
import { apiOptions } from '../producer-api/settings/options.ts';
import { call, log, startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { addDemoChatWorker, demoModelsDir, removeDir } from './support/llama-worker.ts';
import { checkEventOrder, type StreamEvent } from './support/responses-events.ts';

const MODEL = 'demo-chat';
const SLOW = 'fake-small';
const TTL_SEC = 3600;

let f: TestFabric;
let dir: string;
let a: OpenAI;
let b: OpenAI;
beforeAll(async () => {
  dir = await demoModelsDir();
  f = await startFabric({ apiKeys: new Map([['key-a', 'tenant-a'], ['key-b', 'tenant-b']]), responseTtlSec: TTL_SEC });
  await addDemoChatWorker(f, dir);
  await f.addWorker({ tokensPerSecond: 20, models: [{ name: 'fake-small:latest', sizeBytes: 1e9 }] }, { preload: ['fake-small:latest'] });
  a = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'key-a', maxRetries: 0 });
  b = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'key-b', maxRetries: 0 });
}, 60_000);
afterAll(async () => {
  await f?.close();
  removeDir(dir);
});

async function collect(stream: AsyncIterable<unknown>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const ev of stream) out.push(ev as StreamEvent);
  return out;
}

async function rejects<T extends new (...args: never[]) => Error>(p: Promise<unknown>, type: T): Promise<InstanceType<T>> {
  const err = await p.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(type);
  return err as InstanceType<T>;
}

describe('background responses', () => {
  it('answer at once, queued or in progress, and are polled to completion', async () => {
    const { data: r, response } = await a.responses.create({ model: MODEL, input: 'Write a line', background: true, max_output_tokens: 16 }).withResponse();
    expect(['queued', 'in_progress']).toContain(r.status);
    expect(r.background).toBe(true);
    expect(response.headers.get('x-fabric-job-id')).toBe(r.id.slice('resp_'.length));
    const done = await waitFor(async () => {
      const now = await a.responses.retrieve(r.id);
      return now.status === 'completed' || now.status === 'incomplete' ? now : null;
    }, 30_000, 50);
    expect(done.output_text.length).toBeGreaterThan(0);
    expect(done.usage!.output_tokens).toBeGreaterThan(0);
  }, 40_000);

  it('cancel stops the job; the response stays cancelled; a response that is not background cannot be cancelled', async () => {
    const r = await a.responses.create({ model: SLOW, input: 'go on', background: true, max_output_tokens: 400 });
    await waitFor(async () => (await a.responses.retrieve(r.id)).status === 'in_progress', 10_000, 25);
    const cancelled = await a.responses.cancel(r.id);
    expect(cancelled.status).toBe('cancelled');
    const job = await call(f.url, `/v1/jobs/${r.id.slice('resp_'.length)}`, { headers: { authorization: 'Bearer key-a' } });
    expect(job.json.status).toBe('canceled');
    expect((await a.responses.retrieve(r.id)).status).toBe('cancelled');
    const sync = await a.responses.create({ model: MODEL, input: 'x', max_output_tokens: 2 });
    const e = await rejects(a.responses.cancel(sync.id), OpenAI.BadRequestError);
    expect(e.message).toMatch(/background/);
  }, 30_000);

  it('a stream resumed with starting_after gives the same events after that number, from any API process', async () => {
    const stream = await a.responses.create({ model: MODEL, input: 'Tell me more', background: true, stream: true, max_output_tokens: 20 });
    const all = await collect(stream);
    const { text } = checkEventOrder(all);
    const id = (all[0]!.response as { id: string }).id;
    const resumed = await collect(await a.responses.retrieve(id, { stream: true, starting_after: 4 }));
    checkEventOrder(resumed, 5);
    expect(resumed).toEqual(all.slice(5).map((e) => (e.type === 'response.created' || e.type === 'response.in_progress' ? expect.anything() : e)));
    // A second API process on the same Redis replays the same numbered events.
    const other = createApi(apiOptions({ apiKeys: new Map([['key-a', 'tenant-a']]) }), { redis: f.redis, keys: f.keys, log });
    await other.ready();
    const server = await new Promise<import('node:http').Server>((resolve) => {
      const s = other.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const c = new OpenAI({ baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, apiKey: 'key-a', maxRetries: 0 });
      const fromOther = await collect(await c.responses.retrieve(id, { stream: true, starting_after: 1 }));
      expect(fromOther.map((e) => [e.sequence_number, e.type, e.delta ?? null])).toEqual(all.slice(2).map((e) => [e.sequence_number, e.type, e.delta ?? null]));
      expect((await c.responses.retrieve(id)).output_text).toBe(text);
    } finally {
      server.close();
      await other.close();
    }
  }, 40_000);
});

describe('stored responses', () => {
  it('outlive their job record: read and streamed from the kept result once the job is gone', async () => {
    const r = await a.responses.create({ model: MODEL, input: 'Keep this', max_output_tokens: 12 });
    const jobId = r.id.slice('resp_'.length);
    await f.redis.del(f.keys.job(jobId), f.keys.jobEvents(jobId));
    expect((await a.responses.retrieve(r.id)).output_text).toBe(r.output_text);
    const events = await collect(await a.responses.retrieve(r.id, { stream: true }));
    const { text, final } = checkEventOrder(events);
    expect(text).toBe(r.output_text);
    expect(final.status).toBe(r.status);
  });

  it('input_items lists the request\'s items in pages, newest first unless asked otherwise', async () => {
    const r = await a.responses.create({
      model: MODEL,
      input: [
        { role: 'developer', content: 'Be terse' },
        { role: 'user', content: [{ type: 'input_text', text: 'one' }] },
        { role: 'assistant', content: 'two' },
        { role: 'user', content: 'three' },
      ],
      max_output_tokens: 2,
    });
    const first = await a.responses.inputItems.list(r.id, { limit: 3, order: 'asc' });
    expect(first.data.map((i) => (i as { role: string }).role)).toEqual(['developer', 'user', 'assistant']);
    expect(first.has_more).toBe(true);
    const next = await a.responses.inputItems.list(r.id, { limit: 3, order: 'asc', after: first.data.at(-1)!.id });
    expect(next.data.map((i) => (i as { role: string }).role)).toEqual(['user']);
    expect(next.has_more).toBe(false);
    const desc = await call(f.url, `/v1/responses/${r.id}/input_items`, { headers: { authorization: 'Bearer key-a' } });
    expect(desc.json).toMatchObject({ object: 'list', has_more: false, first_id: desc.json.data[0].id, last_id: first.data[0]!.id });
    expect(desc.json.data.map((i: { role: string }) => i.role)).toEqual(['user', 'assistant', 'user', 'developer']);
    expect(desc.headers.get('x-fabric-job-id')).toBe(r.id.slice('resp_'.length));
    const bad = await call(f.url, `/v1/responses/${r.id}/input_items?limit=500`, { headers: { authorization: 'Bearer key-a' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.param).toBe('limit');
  });

  it('delete removes a response; afterwards it is not found; store: false keeps nothing', async () => {
    const r = await a.responses.create({ model: MODEL, input: 'x', max_output_tokens: 2 });
    const del = await call(f.url, `/v1/responses/${r.id}`, { method: 'DELETE', headers: { authorization: 'Bearer key-a' } });
    expect(del.json).toEqual({ id: r.id, object: 'response', deleted: true });
    await rejects(a.responses.retrieve(r.id), OpenAI.NotFoundError);
    await rejects(a.responses.delete(r.id), OpenAI.NotFoundError);
    const unstored = await a.responses.create({ model: MODEL, input: 'x', max_output_tokens: 2, store: false });
    expect((unstored as unknown as { store: boolean }).store).toBe(false);
    await rejects(a.responses.retrieve(unstored.id), OpenAI.NotFoundError);
    const chained = await rejects(a.responses.create({ model: MODEL, input: 'x', previous_response_id: unstored.id }), OpenAI.NotFoundError);
    expect(chained.param).toBe('previous_response_id');
  });

  it('belong to their tenant: another tenant gets 404 on every route', async () => {
    const r = await a.responses.create({ model: MODEL, input: 'mine', max_output_tokens: 2 });
    await rejects(b.responses.retrieve(r.id), OpenAI.NotFoundError);
    await rejects(b.responses.inputItems.list(r.id), OpenAI.NotFoundError);
    await rejects(b.responses.cancel(r.id), OpenAI.NotFoundError);
    await rejects(b.responses.delete(r.id), OpenAI.NotFoundError);
    await rejects(b.responses.create({ model: MODEL, input: 'x', previous_response_id: r.id }), OpenAI.NotFoundError);
    expect((await a.responses.retrieve(r.id)).id).toBe(r.id);
  });

  it('expire after FABRIC_RESPONSE_TTL, which is validated like every option', async () => {
    const r = await a.responses.create({ model: MODEL, input: 'x', max_output_tokens: 2 });
    const ttl = await f.redis.ttl(f.keys.response(r.id.slice('resp_'.length)));
    expect(ttl).toBeGreaterThan(TTL_SEC - 30);
    expect(ttl).toBeLessThanOrEqual(TTL_SEC);
    expect(apiConfigFromEnv({}).options.responseTtlSec).toBe(30 * 24 * 3600);
    expect(apiConfigFromEnv({ FABRIC_RESPONSE_TTL: '7d'.replace('7d', '168h') }).options.responseTtlSec).toBe(7 * 24 * 3600);
    expect(apiConfigFromEnv({ FABRIC_RESPONSE_TTL: '120' }).options.responseTtlSec).toBe(120);
    expect(() => apiConfigFromEnv({ FABRIC_RESPONSE_TTL: 'soon' })).toThrow(/FABRIC_RESPONSE_TTL/);
    expect(() => apiConfigFromEnv({ FABRIC_RESPONSE_TTL: '100ms' })).toThrow(/FABRIC_RESPONSE_TTL/);
    expect(() => apiOptions({ responseTtlSec: 0 })).toThrow(/responseTtlSec/);
  });
});

describe('guarantees and refusals', () => {
  it('a streaming client that leaves cancels the job, and the stored response reads cancelled', async () => {
    const ac = new AbortController();
    const { data: stream, response } = await a.responses.create({ model: SLOW, input: 'long', stream: true, max_output_tokens: 400 }, { signal: ac.signal }).withResponse();
    const jobId = response.headers.get('x-fabric-job-id')!;
    for await (const ev of stream) if ((ev as StreamEvent).type === 'response.output_text.delta') break;
    ac.abort();
    const job = await waitFor(async () => {
      const j = await call(f.url, `/v1/jobs/${jobId}`, { headers: { authorization: 'Bearer key-a' } });
      return j.json.status === 'canceled' ? j : null;
    }, 10_000);
    expect(job.json.status).toBe('canceled');
    await waitFor(async () => (await a.responses.retrieve(`resp_${jobId}`)).status === 'cancelled', 5_000);
  }, 20_000);

  it('a background streaming client that leaves does not cancel its job', async () => {
    const ac = new AbortController();
    const { data: stream, response } = await a.responses.create({ model: SLOW, input: 'long', stream: true, background: true, max_output_tokens: 30 }, { signal: ac.signal }).withResponse();
    for await (const ev of stream) if ((ev as StreamEvent).type === 'response.output_text.delta') break;
    ac.abort();
    const id = `resp_${response.headers.get('x-fabric-job-id')}`;
    const done = await waitFor(async () => {
      const now = await a.responses.retrieve(id);
      return now.status !== 'queued' && now.status !== 'in_progress' ? now : null;
    }, 15_000, 100);
    expect(done.status).toBe('incomplete');
  }, 20_000);

  it('refuses built-in tools by name', async () => {
    for (const type of ['web_search', 'web_search_preview', 'file_search', 'code_interpreter', 'computer_use_preview', 'mcp', 'image_generation', 'local_shell']) {
      const res = await call(f.url, '/v1/responses', { body: { model: MODEL, input: 'x', tools: [{ type }] }, headers: { authorization: 'Bearer key-a' } });
      expect(res.status, type).toBe(400);
      expect(res.json.error).toMatchObject({ type: 'invalid_request_error', param: 'tools.0.type' });
      expect(res.json.error.message).toContain(`"${type}"`);
    }
    const choice = await call(f.url, '/v1/responses', { body: { model: MODEL, input: 'x', tool_choice: { type: 'web_search_preview' } }, headers: { authorization: 'Bearer key-a' } });
    expect(choice.json.error.param).toBe('tool_choice');
  });

  it('answers bad requests in OpenAI\'s error shape naming the parameter', async () => {
    const cases: [unknown, string | null][] = [
      [{ model: MODEL }, 'input'],
      [{ model: MODEL, input: [{ type: 'item_reference', id: 'x' }] }, 'input.0'],
      [{ model: MODEL, input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }, 'input.0.content.0'],
      [{ model: MODEL, input: 'x', background: true, store: false }, 'store'],
      [{ model: MODEL, input: 'x', text: { format: { type: 'json_schema', schema: {} } } }, 'text.format.name'],
      [{ model: 'nope', input: 'x' }, 'model'],
      [{ model: MODEL, input: 'x', max_output_tokens: 0 }, 'max_output_tokens'],
    ];
    for (const [body, param] of cases) {
      const res = await call(f.url, '/v1/responses', { body, headers: { authorization: 'Bearer key-a' } });
      expect(res.status >= 400 && res.status < 500, JSON.stringify(body)).toBe(true);
      expect(res.json.error.param, JSON.stringify(body)).toBe(param);
    }
    const unknown = await call(f.url, '/v1/responses/resp_nope', { headers: { authorization: 'Bearer key-a' } });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('response_not_found');
  });
});
