import { afterEach, describe, expect, it } from 'vitest';
import { startScheduler, type Scheduler } from '../scheduler/index.ts';
import { call, log, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
let scheduler: Scheduler | undefined;
afterEach(async () => {
  await scheduler?.close();
  scheduler = undefined;
  await f?.close();
});

const model = async (name: string) => (await call(f.url, '/v1/models')).json.data.find((m: any) => m.id === name);

describe('operators in control', () => {
  it("keeps an operator's unload against the scheduler for the hold time, then lets it load again", async () => {
    f = await startFabric();
    await f.addWorker({ tokensPerSecond: 0 }, { preload: ['fake-small:latest'] });
    scheduler = await startScheduler({ redis: f.redis, keys: f.keys, log, options: { tickMs: 100 } });
    await waitFor(async () => (await model('fake-small:latest'))?.resident_on.length > 0);
    const unload = await call(f.url, '/v1/models/fake-small/unload?hold=2s', { method: 'POST' });
    expect(unload.status).toBe(202);
    expect(unload.json.operator.kind).toBe('hold');
    await waitFor(async () => (await model('fake-small:latest')).resident_on.length === 0);
    // A job waits for the held model: the scheduler would load it at once without the hold.
    const job = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'held' } } });
    const heldAt = Date.now();
    const entry = await model('fake-small:latest');
    expect(entry.operator).toMatchObject({ kind: 'hold' });
    expect(Date.parse(entry.operator.until)).toBeGreaterThan(heldAt);
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await model('fake-small:latest')).resident_on).toHaveLength(0);
    expect((await call(f.url, `/v1/jobs/${job.json.id}`)).json.status).toBe('queued');
    // Once the hold lapses the scheduler serves the backlog.
    const done = await call(f.url, `/v1/jobs/${job.json.id}?wait=10`);
    expect(done.json.status).toBe('succeeded');
    // It started only after the hold ran out.
    expect(Date.parse(done.json.started_at)).toBeGreaterThanOrEqual(Date.parse(entry.operator.until));
    expect((await model('fake-small:latest')).operator).toBeNull();
  });

  it("ends a hold with an operator's load, which pins the model for the time given", async () => {
    f = await startFabric();
    await f.addWorker({ tokensPerSecond: 0 }, { preload: ['fake-small:latest'] });
    await waitFor(async () => (await model('fake-small:latest'))?.resident_on.length > 0);
    await call(f.url, '/v1/models/fake-small/unload', { method: 'POST' });
    await waitFor(async () => (await model('fake-small:latest')).resident_on.length === 0);
    expect((await model('fake-small:latest')).operator).toEqual({ kind: 'hold', until: null });
    expect((await call(f.url, '/v1/models/fake-small/load?pin=bogus', { method: 'POST' })).status).toBe(400);
    const load = await call(f.url, '/v1/models/fake-small/load?pin=1h', { method: 'POST' });
    expect(load.status).toBe(202);
    const entry = await model('fake-small:latest');
    expect(entry.operator.kind).toBe('pin');
    expect(Date.parse(entry.operator.until) - Date.now()).toBeGreaterThan(3_500_000);
  });
});
