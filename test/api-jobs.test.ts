import { afterEach, describe, expect, it } from 'vitest';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
afterEach(async () => f?.close());

const gen = (extra: Record<string, unknown> = {}, options: Record<string, unknown> = { num_predict: 3 }) => ({
  model: 'fake-small',
  input: { prompt: 'hello', options },
  ...extra,
});

describe('submitting and reading jobs', () => {
  it('keeps a job for a known but non-resident model queued with its position, and runs it once an operator loads the model', async () => {
    f = await startFabric();
    await f.addWorker({ loadMs: 300 });
    const a = await call(f.url, '/v1/jobs', { body: gen() });
    const b = await call(f.url, '/v1/jobs', { body: gen() });
    expect(a.status).toBe(202);
    expect(a.json.status).toBe('queued');
    expect(a.json.queue).toEqual({ position: 0, depth: 1 });
    expect(b.json.queue).toEqual({ position: 1, depth: 2 });
    const load = await call(f.url, '/v1/models/fake-small/load', { method: 'POST' });
    expect(load.status).toBe(202);
    expect(load.json.worker).toBe(f.workers[0]!.id);
    const loading = await waitFor(async () => {
      const r = await call(f.url, `/v1/jobs/${a.json.id}`);
      return r.json.status === 'loading_model' ? r : undefined;
    });
    expect(loading.headers.get('retry-after')).toBe('1');
    const done = await call(f.url, `/v1/jobs/${b.json.id}?wait=10`);
    expect(done.json.status).toBe('succeeded');
    expect(done.json.timings.load_wait_ms).toBeGreaterThan(0);
  });

  it('answers 200 to Prefer: wait only with a finished job, and 202 with Location and Retry-After otherwise', async () => {
    f = await startFabric();
    await f.addWorker({ tokensPerSecond: 20 }, { preload: ['fake-small:latest'] });
    const quick = await call(f.url, '/v1/jobs', { body: gen({}, { num_predict: 1 }), headers: { Prefer: 'wait=10' } });
    expect(quick.status).toBe(200);
    expect(quick.json.status).toBe('succeeded');
    const slow = await call(f.url, '/v1/jobs', { body: gen({}, { num_predict: 40 }), headers: { Prefer: 'wait=1' } });
    expect(slow.status).toBe(202);
    expect(slow.json.status).not.toBe('succeeded');
    expect(slow.headers.get('location')).toBe(`/v1/jobs/${slow.json.id}`);
    expect(slow.headers.get('retry-after')).toBeTruthy();
  });

  it('runs the sync wrapper to completion and returns the output', async () => {
    f = await startFabric();
    await f.addWorker({}, { preload: ['fake-small:latest'] });
    const r = await call(f.url, '/v1/run', { body: { model: 'fake-small', task: 'chat', input: { messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 4 } } } });
    expect(r.status).toBe(200);
    expect(r.json.status).toBe('succeeded');
    expect(r.json.output.message.content.split(' ')).toHaveLength(4);
  });

  it('returns 202 from the sync wrapper when the job outlasts the wait, never an unfinished 200', async () => {
    f = await startFabric();
    await f.addWorker({}); // model never loaded
    const r = await call(f.url, '/v1/run', { body: gen(), headers: { Prefer: 'wait=1' } });
    expect(r.status).toBe(202);
    expect(r.json.status).toBe('queued');
    expect(r.headers.get('location')).toBe(`/v1/jobs/${r.json.id}`);
  });

  it('returns the same job for a repeated Idempotency-Key and refuses the key with a different body', async () => {
    f = await startFabric();
    await f.addWorker({});
    const headers = { 'Idempotency-Key': 'abc-123' };
    const [a, b] = await Promise.all([call(f.url, '/v1/jobs', { body: gen(), headers }), call(f.url, '/v1/jobs', { body: gen(), headers })]);
    expect(a.json.id).toBe(b.json.id);
    const c = await call(f.url, '/v1/jobs', { body: gen(), headers });
    expect(c.json.id).toBe(a.json.id);
    expect(c.headers.get('idempotent-replayed')).toBe('true');
    const d = await call(f.url, '/v1/jobs', { body: gen({ priority: 'high' }), headers });
    expect(d.status).toBe(422);
    expect(d.json.error.code).toBe('idempotency_key_reused');
    const models = await call(f.url, '/v1/models');
    expect(models.json.data.find((m: any) => m.id === 'fake-small:latest').queue.waiting).toBe(1);
  });

  it('refuses a submission past the model backlog with 503 and Retry-After, enqueueing nothing', async () => {
    f = await startFabric({ maxBacklog: 2 });
    await f.addWorker({});
    expect((await call(f.url, '/v1/jobs', { body: gen() })).status).toBe(202);
    expect((await call(f.url, '/v1/jobs', { body: gen() })).status).toBe(202);
    const full = await call(f.url, '/v1/jobs', { body: gen() });
    expect(full.status).toBe(503);
    expect(full.json.error.code).toBe('backlog_full');
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const models = await call(f.url, '/v1/models');
    expect(models.json.data.find((m: any) => m.id === 'fake-small:latest').queue.waiting).toBe(2);
  });

  it('serves high priority jobs before normal and low ones', async () => {
    f = await startFabric();
    await f.addWorker({ slotsPerModel: 1 });
    const low = await call(f.url, '/v1/jobs', { body: gen({ priority: 'low' }) });
    const normal = await call(f.url, '/v1/jobs', { body: gen({ priority: 'normal' }) });
    const high = await call(f.url, '/v1/jobs', { body: gen({ priority: 'high' }) });
    expect(high.json.queue.position).toBe(0);
    await call(f.url, '/v1/models/fake-small/load', { method: 'POST' });
    const finished = await Promise.all([low, normal, high].map((j) => call(f.url, `/v1/jobs/${j.json.id}?wait=10`)));
    const started = finished.map((r) => Date.parse(r.json.started_at));
    expect(started[2]).toBeLessThanOrEqual(started[1]!);
    expect(started[1]).toBeLessThanOrEqual(started[0]!);
  });

  it('runs embed jobs and returns one vector per input', async () => {
    f = await startFabric();
    await f.addWorker({}, { preload: ['fake-small:latest'] });
    const r = await call(f.url, '/v1/run', { body: { model: 'fake-small', task: 'embed', input: { input: ['a b', 'c'] } } });
    expect(r.status).toBe(200);
    expect(r.json.output.embeddings).toHaveLength(2);
  });

  it('answers 404 for an unknown job id', async () => {
    f = await startFabric();
    const r = await call(f.url, '/v1/jobs/job_nope');
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('job_not_found');
  });
});
