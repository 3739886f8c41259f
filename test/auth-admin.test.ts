import { afterEach, describe, expect, it } from 'vitest';
import { queueNameFor } from '../protocol/model-names.ts';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
afterEach(async () => f?.close());

const keys = new Map([
  ['key-a', 'tenant-a'],
  ['key-b', 'tenant-b'],
]);
const as = (key: string) => ({ Authorization: `Bearer ${key}` });
const body = { model: 'fake-small', input: { prompt: 'x' } };

describe('auth and operator routes', () => {
  it('requires a valid key when tenants are configured', async () => {
    f = await startFabric({ apiKeys: keys, adminKey: 'root' });
    expect((await call(f.url, '/v1/jobs', { body })).status).toBe(401);
    expect((await call(f.url, '/v1/jobs', { body, headers: as('wrong') })).status).toBe(401);
    expect((await call(f.url, '/healthz')).status).toBe(200);
  });

  it('lets a tenant see and cancel only its own jobs', async () => {
    f = await startFabric({ apiKeys: keys, adminKey: 'root' });
    await f.addWorker({});
    const a = await call(f.url, '/v1/jobs', { body, headers: as('key-a') });
    expect(a.status).toBe(202);
    expect((await call(f.url, `/v1/jobs/${a.json.id}`, { headers: as('key-b') })).status).toBe(404);
    expect((await call(f.url, `/v1/jobs/${a.json.id}/cancel`, { method: 'POST', headers: as('key-b') })).status).toBe(404);
    expect((await call(f.url, `/v1/jobs/${a.json.id}`, { headers: as('key-a') })).json.status).toBe('queued');
    expect((await call(f.url, `/v1/jobs/${a.json.id}/cancel`, { method: 'POST', headers: as('key-a') })).json.status).toBe('canceled');
  });

  it('scopes Idempotency-Key per tenant', async () => {
    f = await startFabric({ apiKeys: keys, adminKey: 'root' });
    await f.addWorker({});
    const a = await call(f.url, '/v1/jobs', { body, headers: { ...as('key-a'), 'Idempotency-Key': 'k' } });
    const b = await call(f.url, '/v1/jobs', { body, headers: { ...as('key-b'), 'Idempotency-Key': 'k' } });
    expect(a.json.id).not.toBe(b.json.id);
  });

  it('guards load, unload and Bull Board with the admin key', async () => {
    f = await startFabric({ apiKeys: keys, adminKey: 'root' });
    await f.addWorker({});
    expect((await call(f.url, '/v1/models/fake-small/load', { method: 'POST', headers: as('key-a') })).status).toBe(403);
    expect((await call(f.url, '/admin/queues')).status).toBe(401);
    const basic = { Authorization: `Basic ${Buffer.from('ops:root').toString('base64')}` };
    const board = await call(f.url, '/admin/queues', { headers: basic });
    expect(board.status).toBe(200);
    expect(board.text).toContain('<div id="root"');
    const api = await call(f.url, '/admin/queues/api/queues', { headers: basic });
    expect(api.json.queues.map((q: any) => q.name)).toContain(queueNameFor('fake-small:latest'));
    const load = await call(f.url, '/v1/models/fake-small/load', { method: 'POST', headers: as('root') });
    expect(load.status).toBe(202);
    await waitFor(async () => (await call(f.url, '/api/ps', { headers: as('key-a') })).json.models.length === 1);
    const unload = await call(f.url, '/v1/models/fake-small:latest/unload', { method: 'POST', headers: as('root') });
    expect(unload.status).toBe(202);
    await waitFor(async () => (await call(f.url, '/api/ps', { headers: as('key-a') })).json.models.length === 0);
  });

  it('closes admin routes when tenants are configured without an admin key', async () => {
    f = await startFabric({ apiKeys: keys });
    expect((await call(f.url, '/v1/models/fake-small/load', { method: 'POST', headers: as('key-a') })).status).toBe(403);
  });

  it('refuses a load when no worker has room and says why', async () => {
    f = await startFabric();
    await f.addWorker({ memoryBytes: 2_000_000_000 });
    const r = await call(f.url, '/v1/models/fake-large/load', { method: 'POST' });
    expect(r.status).toBe(409);
    expect(r.json.error.code).toBe('insufficient_vram');
    expect((await call(f.url, '/v1/models/unknown/load', { method: 'POST' })).status).toBe(404);
  });

  it('reports models with residency and queue counts, and workers with capacity', async () => {
    f = await startFabric();
    const w = await f.addWorker({}, { preload: ['fake-small:latest'] });
    const r = await call(f.url, '/v1/models');
    const small = r.json.data.find((m: any) => m.id === 'fake-small:latest');
    expect(small.resident_on).toEqual([expect.objectContaining({ worker: w.id, size_bytes: 1_000_000_000 })]);
    expect(small.queue).toMatchObject({ waiting: 0, active: 0 });
    expect(r.json.workers[0]).toMatchObject({ id: w.id, engine: 'fake', state: 'running', capacity_bytes: 8_000_000_000 });
  });

  it('serves health, readiness and Prometheus metrics for jobs, queues and workers', async () => {
    f = await startFabric();
    await f.addWorker({}, { preload: ['fake-small:latest'] });
    await call(f.url, '/v1/run', { body });
    expect((await call(f.url, '/readyz')).json.status).toBe('ready');
    const m = await call(f.url, '/metrics');
    expect(m.text).toMatch(/fabric_jobs_total\{model="fake-small:latest",status="succeeded"\} \d+/);
    expect(m.text).toMatch(/fabric_queue_depth\{model="fake-small:latest",state="waiting"\} 0/);
    expect(m.text).toContain('fabric_job_queue_wait_seconds_bucket');
    expect(m.text).toContain('fabric_model_load_seconds_bucket');
    expect(m.text).toMatch(/fabric_workers_alive \d+/);
  });
});
