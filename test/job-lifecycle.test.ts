import { afterEach, describe, expect, it } from 'vitest';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
afterEach(async () => f?.close());

const gen = (prompt: string, extra: Record<string, unknown> = {}, numPredict = 3) => ({
  model: 'fake-small',
  input: { prompt, options: { num_predict: numPredict } },
  ...extra,
});

const statusOf = async (id: string) => (await call(f.url, `/v1/jobs/${id}`)).json.status as string;

describe('job lifecycle', () => {
  it('cancels a queued job: it is removed from the queue and never runs', async () => {
    f = await startFabric();
    await f.addWorker({});
    const sub = await call(f.url, '/v1/jobs', { body: gen('a') });
    const c = await call(f.url, `/v1/jobs/${sub.json.id}/cancel`, { method: 'POST' });
    expect(c.status).toBe(200);
    expect(c.json.status).toBe('canceled');
    await call(f.url, '/v1/models/fake-small/load', { method: 'POST' });
    await waitFor(async () => (await call(f.url, '/v1/models')).json.data.find((m: any) => m.id === 'fake-small:latest').resident_on.length > 0);
    await new Promise((r) => setTimeout(r, 300));
    const after = await call(f.url, `/v1/jobs/${sub.json.id}`);
    expect(after.json.status).toBe('canceled');
    expect(after.json.started_at).toBeNull();
    const again = await call(f.url, `/v1/jobs/${sub.json.id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(409);
  });

  it('cancels a running job by aborting it at the engine', async () => {
    f = await startFabric();
    await f.addWorker({ tokensPerSecond: 20 }, { preload: ['fake-small:latest'] });
    const sub = await call(f.url, '/v1/jobs', { body: gen('long', {}, 1000) });
    await waitFor(async () => (await statusOf(sub.json.id)) === 'running');
    const t0 = Date.now();
    const c = await call(f.url, `/v1/jobs/${sub.json.id}/cancel`, { method: 'POST' });
    expect(c.json.status).toBe('canceled');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(c.json.output).toBeNull();
  });

  it('marks a job that runs past its timeout as timed_out', async () => {
    f = await startFabric();
    await f.addWorker({ tokensPerSecond: 20 }, { preload: ['fake-small:latest'] });
    const sub = await call(f.url, '/v1/jobs', { body: gen('slow', { timeout: 1 }, 1000) });
    const r = await call(f.url, `/v1/jobs/${sub.json.id}?wait=10`);
    expect(r.json.status).toBe('timed_out');
    expect(r.json.error.code).toBe('timed_out');
    expect(r.json.timings.run_ms).toBeGreaterThanOrEqual(900);
  });

  it('expires a job whose ttl passes before any worker starts it', async () => {
    f = await startFabric();
    await f.addWorker({});
    const sub = await call(f.url, '/v1/jobs', { body: gen('late', { ttl: 1 }) });
    await new Promise((r) => setTimeout(r, 1100));
    expect(await statusOf(sub.json.id)).toBe('expired');
  });

  it('expires at the worker a job whose deadline passed while it waited', async () => {
    f = await startFabric();
    await f.addWorker({ loadMs: 1500 });
    const sub = await call(f.url, '/v1/jobs', { body: gen('late', { ttl: 1 }) });
    await call(f.url, '/v1/models/fake-small/load', { method: 'POST' });
    const r = await waitFor(async () => {
      const rec = await f.api.store.get(sub.json.id);
      return rec?.status === 'expired' ? rec : undefined;
    });
    expect(r.startedAt).toBeNull();
  });

  it('fails a job on a final engine error without retrying, and retries a retryable one', async () => {
    f = await startFabric();
    await f.addWorker({}, { preload: ['fake-small:latest'] });
    const final = await call(f.url, '/v1/run', { body: gen('FAIL:invalid_request') });
    expect(final.json.status).toBe('failed');
    expect(final.json.error).toMatchObject({ code: 'invalid_request', retryable: false });
    expect(final.json.attempts).toBe(1);
    const retried = await call(f.url, '/v1/run', { body: gen('FAIL:out_of_memory') });
    expect(retried.json.status).toBe('failed');
    expect(retried.json.error).toMatchObject({ code: 'out_of_memory', retryable: true });
    expect(retried.json.attempts).toBe(3);
  });

  it('runs a failed job again under the same id on retry', async () => {
    f = await startFabric();
    await f.addWorker({ tokensPerSecond: 0 }, { preload: ['fake-small:latest'] });
    const sub = await call(f.url, '/v1/jobs', { body: gen('x', { timeout: 1 }, 1) });
    const first = await call(f.url, `/v1/jobs/${sub.json.id}?wait=5`);
    expect(first.json.status).toBe('succeeded');
    const refused = await call(f.url, `/v1/jobs/${sub.json.id}/retry`, { method: 'POST' });
    expect(refused.status).toBe(409);
    const failing = await call(f.url, '/v1/run', { body: gen('FAIL:engine_error') });
    expect(failing.json.status).toBe('failed');
    const retry = await call(f.url, `/v1/jobs/${failing.json.id}/retry`, { method: 'POST' });
    expect(retry.status).toBe(202);
    expect(retry.json.id).toBe(failing.json.id);
    expect(retry.json.error).toBeNull();
    const again = await call(f.url, `/v1/jobs/${failing.json.id}?wait=5`);
    expect(again.json.status).toBe('failed');
    expect(again.json.finished_at).not.toBe(failing.json.finished_at);
  });
});
