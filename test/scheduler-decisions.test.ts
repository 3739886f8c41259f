import { afterEach, describe, expect, it } from 'vitest';
import { startScheduler, type Scheduler } from '../scheduler/index.ts';
import { call, log, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
let scheduler: Scheduler | undefined;
afterEach(async () => {
  await scheduler?.close();
  await f?.close();
});

describe('scheduler decisions in the cluster view', () => {
  it('lists the load the scheduler made for a cold model with its reason', async () => {
    f = await startFabric();
    const w = await f.addWorker({ tokensPerSecond: 0 });
    scheduler = await startScheduler({ redis: f.redis, keys: f.keys, log, options: { tickMs: 200 } });
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'cold' } } });
    expect((await call(f.url, `/v1/jobs/${sub.json.id}?wait=10`)).json.status).toBe('succeeded');
    const decisions = await waitFor(async () => {
      const r = await call(f.url, '/admin/cluster/decisions');
      return r.json.data.length > 0 ? r.json.data : undefined;
    });
    expect(decisions[0]).toMatchObject({ action: 'load', model: 'fake-small:latest', worker: w.id, reason: 'cold_backlog' });
    expect(typeof decisions[0].at).toBe('number');
  });
});
