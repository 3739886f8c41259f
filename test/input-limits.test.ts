/** Bad input is a clear 4xx at the door, never a 5xx or a job that fails later. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BYTES_PER_TOKEN } from '../protocol/context-length.ts';
import { queueKeys } from '../store/queue-keys.ts';
import { call, startFabric, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
const SHORT = 'short-context:latest';
beforeAll(async () => {
  f = await startFabric();
  await f.addWorker({ tokensPerSecond: 0 }, { preload: ['fake-small:latest'] });
  await f.redis.hset(f.keys.catalog(), SHORT, JSON.stringify({ name: SHORT, sizeBytes: 1e9, engine: 'fake', family: null, parameterSize: null, quantization: null, digest: null, modifiedAt: '', contextLength: 100, estimatedBytes: null }));
});
afterAll(async () => {
  await f?.close();
});

const deep = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);

describe('input limits', () => {
  it('refuses an empty messages array at submit with 400', async () => {
    const r = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { messages: [] } } });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('invalid_input');
  });

  it('refuses 10,000-deep metadata and format with 400 instead of overflowing the stack', async () => {
    for (const body of [`{"model":"fake-small","input":{"prompt":"x"},"metadata":${deep(10_000)}}`, `{"model":"fake-small","input":{"prompt":"x","format":${deep(10_000)}}}`]) {
      const r = await call(f.url, '/v1/jobs', { body });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('json_too_deep');
    }
  });

  it('refuses a prompt that cannot fit the model context with context_length_exceeded, as 400 on the Ollama routes too', async () => {
    const prompt = 'x'.repeat(101 * MAX_BYTES_PER_TOKEN);
    const r = await call(f.url, '/v1/jobs', { body: { model: SHORT, input: { prompt } } });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('context_length_exceeded');
    const o = await call(f.url, '/api/generate', { body: { model: SHORT, prompt, stream: false } });
    expect(o.status).toBe(400);
    expect(o.json.error).toMatch(/context/);
    expect((await call(f.url, '/v1/jobs', { body: { model: SHORT, input: { prompt: 'fits' } } })).status).toBe(202);
  });

  it('decodes a model name on the load and unload routes once', async () => {
    for (const verb of ['load', 'unload']) {
      const r = await call(f.url, `/v1/models/${encodeURIComponent('100%')}/${verb}`, { method: 'POST' });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('invalid_model_name');
      const twice = await call(f.url, `/v1/models/${encodeURIComponent(encodeURIComponent('hf.co/org/x:tag'))}/${verb}`, { method: 'POST' });
      expect(twice.status).toBeGreaterThanOrEqual(400);
      expect(twice.status).toBeLessThan(500);
    }
  });

  it('answers 400 to a Last-Event-ID Redis would reject and a fresh stream to one beyond the end', async () => {
    const done = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'x', options: { num_predict: 2 } } }, headers: { prefer: 'wait=10' } });
    expect(done.json.status).toBe('succeeded');
    const bad = await call(f.url, `/v1/jobs/${done.json.id}/events`, { headers: { 'last-event-id': '18446744073709551616-0' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('invalid_last_event_id');
    const beyond = await call(f.url, `/v1/jobs/${done.json.id}/events`, { headers: { 'last-event-id': '99999999999999-0' } });
    expect(beyond.status).toBe(200);
    expect(beyond.text).toContain('event: status');
    expect(beyond.text).toContain('event: result');
  });

  it('answers 400 to Bull Board API queries with control characters or unknown statuses', async () => {
    const q = queueKeys(f.keys.bullPrefix, 'fake-small:latest').name;
    for (const query of [`activeQueue=${q}&status=%01&page=1`, `activeQueue=${q}&status=bogus`, `activeQueue=%00&status=latest`, `activeQueue=${q}&status=latest&page=-1`]) {
      const r = await call(f.url, `/admin/queues/api/queues?${query}`);
      expect(r.status, query).toBe(400);
    }
    expect((await call(f.url, `/admin/queues/api/queues?activeQueue=${q}&status=latest&page=1&jobsPerPage=10`)).status).toBe(200);
  });
});
