import { afterEach, describe, expect, it } from 'vitest';
import { tenantLimits } from '../protocol/tenant-limits.ts';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
afterEach(async () => f?.close());

const KEYS = new Map([
  ['key-a', 'team-a'],
  ['key-b', 'team-b'],
  ['key-x', 'team-x'],
]);

async function fabric() {
  f = await startFabric({ apiKeys: KEYS, adminKey: 'admin-key', metricsKey: 'scrape-key', tenantLimits: tenantLimits({ tenants: { 'team-a': {}, 'team-b': {} } }) });
  await f.addWorker({ tokensPerSecond: 0 }, { preload: ['fake-small:latest'] });
  return f;
}

const run = (key: string, n: number, header: 'authorization' | 'x-api-key' = 'authorization') =>
  call(f.url, '/v1/run', {
    body: { model: 'fake-small', input: { prompt: 'one two', options: { num_predict: n } } },
    headers: header === 'authorization' ? { authorization: `Bearer ${key}` } : { 'x-api-key': key },
  });

describe('usage per tenant', () => {
  it('counts jobs and tokens per tenant and day that add up to the jobs run, each tenant seeing its own and the admin all', async () => {
    await fabric();
    const runs = [await run('key-a', 3), await run('key-a', 5, 'x-api-key'), await run('key-b', 4), await run('key-x', 2)];
    expect(runs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const tokens = (rs: typeof runs) => rs.reduce((s, r) => s + r.json.usage.prompt_tokens + r.json.usage.completion_tokens, 0);

    const mine = await call(f.url, '/v1/usage?days=2', { headers: { 'x-api-key': 'key-a' } });
    expect(mine.status).toBe(200);
    expect(mine.json.data).toHaveLength(1);
    expect(mine.json.data[0].tenant).toBe('team-a');
    const today = mine.json.data[0].days.at(-1);
    expect(today.day).toBe(new Date().toISOString().slice(0, 10));
    expect(today).toMatchObject({ jobs: 2, succeeded: 2, failed: 0 });
    expect(today.prompt_tokens + today.completion_tokens).toBe(tokens(runs.slice(0, 2)));
    expect(today.gpu_seconds).toBeGreaterThanOrEqual(0);

    const all = await call(f.url, '/v1/usage?days=1', { headers: { authorization: 'Bearer admin-key' } });
    expect(all.json.data.map((t: any) => t.tenant)).toEqual(['team-a', 'team-b', 'team-x']);
    expect(all.json.data.reduce((s: number, t: any) => s + t.days[0].jobs, 0)).toBe(4);
    expect((await call(f.url, '/v1/usage?days=0', { headers: { authorization: 'Bearer key-a' } })).status).toBe(400);

    // Metrics: configured tenants by name, everyone else as `unknown`; the scrape needs the metrics key.
    expect((await call(f.url, '/metrics')).status).toBe(401);
    const m = await call(f.url, '/metrics', { headers: { authorization: 'Bearer scrape-key' } });
    expect(m.status).toBe(200);
    expect(m.text).toContain('fabric_tenant_jobs_total{tenant="team-a"} 2');
    expect(m.text).toContain('fabric_tenant_jobs_total{tenant="team-b"} 1');
    expect(m.text).toContain('fabric_tenant_jobs_total{tenant="unknown"} 1');
    expect(m.text).not.toContain('tenant="team-x"');
  });

  it('lets the admin key act on every route: submit, read and cancel any tenant’s job', async () => {
    await fabric();
    const slow = await call(f.url, '/v1/jobs', { body: { model: 'fake-large', input: { prompt: 'wait' } }, headers: { authorization: 'Bearer key-a' } });
    expect(slow.status).toBe(202);
    expect((await call(f.url, `/v1/jobs/${slow.json.id}`, { headers: { authorization: 'Bearer key-b' } })).status).toBe(404);
    expect((await call(f.url, `/v1/jobs/${slow.json.id}`, { headers: { 'x-api-key': 'admin-key' } })).json.status).toBe('queued');
    const canceled = await call(f.url, `/v1/jobs/${slow.json.id}/cancel`, { method: 'POST', headers: { authorization: 'Bearer admin-key' } });
    expect(canceled.json.status).toBe('canceled');
    const own = await call(f.url, '/v1/run', { body: { model: 'fake-small', input: { prompt: 'hi' } }, headers: { authorization: 'Bearer admin-key' } });
    expect(own.status).toBe(200);
    await waitFor(async () => (await f.redis.hget(f.keys.tenantJobs('team-a'), 'queued')) === '0');
  });
});
