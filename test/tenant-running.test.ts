/**
 * The per-tenant cap on jobs running at once, enforced by the workers with leased slots in Redis
 * (store/tenant-slots.ts, worker/tenant-gate.ts), across two workers and two API instances.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { apiOptions } from '../producer-api/settings/options.ts';
import type { JobRecord } from '../protocol/job.ts';
import { tenantLimits } from '../protocol/tenant-limits.ts';
import { TenantSlots } from '../store/tenant-slots.ts';
import type { GenerateRequest, GenerateResult } from '../worker/engines/port/engine.ts';
import { FakeEngine, type FakeEngineOptions } from '../worker/engines/fake-engine.ts';
import { metrics as workerMetrics } from '../worker/metrics.ts';
import { workerConfigFromEnv } from '../worker/config.ts';
import { workerOptions } from '../worker/options.ts';
import { TenantGate } from '../worker/tenant-gate.ts';
import { call, log, startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { redisUrl } from './support/redis.ts';
import { startSecondApi } from './support/second-api.ts';

let f: TestFabric;
let second: { url: string; close(): Promise<void> } | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  child?.kill('SIGKILL');
  child = undefined;
  await second?.close();
  second = undefined;
  await f?.close();
});

const KEYS = new Map([
  ['key-a', 'team-a'],
  ['key-b', 'team-b'],
]);
const MODEL = 'fake-small:latest';
const as = (key: string) => ({ authorization: `Bearer ${key}` });
const limitsWithCap = (maxRunning: number) => tenantLimits({ tenants: { 'team-a': { maxRunning }, 'team-b': {} } });

/** A fake engine that counts, across every engine sharing `seen`, the jobs running at once per prompt prefix. */
class CountingEngine extends FakeEngine {
  private readonly seen: { now: Map<string, number>; peak: Map<string, number> };
  constructor(
    opts: Partial<FakeEngineOptions>,
    seen: { now: Map<string, number>; peak: Map<string, number> },
  ) {
    super(opts);
    this.seen = seen;
  }

  override async generate(req: GenerateRequest): Promise<GenerateResult> {
    const who = (req.prompt ?? '').split(' ')[0]!;
    const n = (this.seen.now.get(who) ?? 0) + 1;
    this.seen.now.set(who, n);
    this.seen.peak.set(who, Math.max(n, this.seen.peak.get(who) ?? 0));
    try {
      return await super.generate(req);
    } finally {
      this.seen.now.set(who, (this.seen.now.get(who) ?? 1) - 1);
    }
  }
}

/** Most intervals [start, end) that overlap at one instant. */
function maxOverlap(spans: { start: number; end: number }[]): number {
  const edges = spans.flatMap((s) => [[s.start, 1] as const, [s.end, -1] as const]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let now = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, (now += d));
  return peak;
}

async function deferredTotal(): Promise<number> {
  return (await workerMetrics.jobsDeferred.get()).values.reduce((s, v) => s + v.value, 0);
}

/** The job's record once it ended (asked through the API, as a client would). */
async function finished(url: string, id: string, key: string, ms = 30_000): Promise<JobRecord> {
  await waitFor(async () => ['succeeded', 'failed', 'canceled'].includes((await call(url, `/v1/jobs/${id}`, { headers: as(key) })).json.status), ms, 50);
  return (await f.api.store.get(id))!;
}

describe('running cap per tenant', () => {
  it("runs at most 2 of a capped tenant's 10 jobs at once across two workers and two API instances, finishes all of them, and does not hold back another tenant", async () => {
    const limits = limitsWithCap(2);
    f = await startFabric({ apiKeys: KEYS, tenantLimits: limits });
    second = await startSecondApi(apiOptions({ apiKeys: KEYS, tenantLimits: limits }), f.keys);
    const seen = { now: new Map<string, number>(), peak: new Map<string, number>() };
    for (let i = 0; i < 2; i++) await f.addWorker(new CountingEngine({ tokensPerSecond: 20, slotsPerModel: 4 }, seen), { preload: [MODEL] });
    await waitFor(async () => (await call(f.url, '/api/ps', { headers: as('key-a') })).json.models[0]?.replicas?.length === 2, 10_000);
    const deferredBefore = await deferredTotal();

    const job = (who: string) => ({ model: 'fake-small', input: { prompt: `${who} go`, options: { num_predict: 4 } } });
    const urls = [f.url, second.url];
    const aIds = await Promise.all(Array.from({ length: 10 }, async (_, i) => (await call(urls[i % 2]!, '/v1/jobs', { body: job('A'), headers: as('key-a') })).json.id as string));
    const bIds = await Promise.all(Array.from({ length: 4 }, async (_, i) => (await call(urls[i % 2]!, '/v1/jobs', { body: job('B'), headers: as('key-b') })).json.id as string));
    const a = await Promise.all(aIds.map((id) => finished(f.url, id, 'key-a')));
    const b = await Promise.all(bIds.map((id) => finished(f.url, id, 'key-b')));

    const aSpans = a.map((r) => ({ start: r.startedAt!, end: r.finishedAt! }));
    const lastAStart = Math.max(...aSpans.map((s) => s.start));
    const bWaits = b.map((r) => r.startedAt! - r.createdAt);
    const deferrals = (await deferredTotal()) - deferredBefore;
    const makespan = Math.max(...aSpans.map((s) => s.end)) - Math.min(...a.map((r) => r.createdAt));
    const busy = aSpans.reduce((t, s) => t + s.end - s.start, 0);
    console.info(`running cap 2: A's 10 jobs ran at most ${seen.peak.get('A')} at once on the engines (${maxOverlap(aSpans)} by their records), put back ${deferrals} times in all, done in ${makespan} ms for ${busy} ms of work (${Math.round(busy / 2)} ms at 2 at once); B's waits ${bWaits.join(', ')} ms`);
    expect(a.map((r) => r.status)).toEqual(Array(10).fill('succeeded'));
    expect(b.map((r) => r.status)).toEqual(Array(4).fill('succeeded'));
    expect(seen.peak.get('A')).toBe(2);
    expect(maxOverlap(aSpans)).toBeLessThanOrEqual(2);
    expect(deferrals).toBeGreaterThan(0);
    // B is not held back by A's waiting jobs: all of B started before A's last one.
    expect(Math.max(...b.map((r) => r.startedAt!))).toBeLessThan(lastAStart);
    expect(seen.peak.get('B')).toBeGreaterThan(1);
    // Put back untouched: one attempt, no status event besides queued -> running -> succeeded.
    for (const r of a) {
      expect(r.attempts).toBe(1);
      const statuses = (await f.api.store.readEvents(r.id)).filter((e) => e.type === 'status').map((e) => JSON.parse(e.data).status);
      expect(statuses).toEqual(['queued', 'running', 'succeeded']);
    }
    expect(await new TenantSlots(f.redis, f.keys).holders('team-a')).toEqual([]);
  }, 60_000);

  it('gives the slot back when a capped job fails, is canceled while running, or is retried by the engine', async () => {
    f = await startFabric({ apiKeys: KEYS, tenantLimits: limitsWithCap(1) });
    await f.addWorker({ tokensPerSecond: 10, slotsPerModel: 4 }, { preload: [MODEL] });
    await waitFor(async () => (await call(f.url, '/api/ps', { headers: as('key-a') })).json.models.length === 1);
    const submit = async (prompt: string, n = 3) => (await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt, options: { num_predict: n } } }, headers: as('key-a') })).json.id as string;

    const failing = await submit('FAIL:engine_error');
    expect((await finished(f.url, failing, 'key-a')).status).toBe('failed');
    const long = await submit('cancel me', 200);
    await waitFor(async () => (await call(f.url, `/v1/jobs/${long}`, { headers: as('key-a') })).json.status === 'running');
    const behind = await submit('after the cancel');
    expect((await call(f.url, `/v1/jobs/${long}/cancel`, { method: 'POST', headers: as('key-a') })).json.status).toBe('canceled');
    expect((await finished(f.url, behind, 'key-a')).status).toBe('succeeded');
    // A retryable engine failure: every attempt takes the slot again and gives it back.
    const busy = await submit('FAIL:engine_busy');
    const afterBusy = await submit('after the retries');
    expect((await finished(f.url, busy, 'key-a')).attempts).toBe(3);
    expect((await finished(f.url, afterBusy, 'key-a')).status).toBe('succeeded');
    expect(await new TenantSlots(f.redis, f.keys).holders('team-a')).toEqual([]);
  }, 60_000);

  it('lets a job run once the lease of a slot nobody renews runs out', async () => {
    f = await startFabric({ apiKeys: KEYS, tenantLimits: limitsWithCap(1) });
    await f.addWorker({ tokensPerSecond: 0 }, { preload: [MODEL] });
    await waitFor(async () => (await call(f.url, '/api/ps', { headers: as('key-a') })).json.models.length === 1);
    // A slot held by a worker that died before it could give it back.
    const slots = new TenantSlots(f.redis, f.keys);
    expect((await slots.take('job_ghost', { tenant: 'team-a', max: 1 }, 1_500)).taken).toBe(true);
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'wait for it' } }, headers: as('key-a') });
    await new Promise((r) => setTimeout(r, 700));
    const waiting = await call(f.url, `/v1/jobs/${sub.json.id}`, { headers: as('key-a') });
    expect(waiting.json).toMatchObject({ status: 'queued', attempts: 0 });
    const done = await finished(f.url, sub.json.id, 'key-a', 10_000);
    expect(done.status).toBe('succeeded');
    expect(done.startedAt! - done.createdAt).toBeGreaterThanOrEqual(1_000);
    expect(await slots.holders('team-a')).toEqual([]);
  }, 30_000);

  it("hands a SIGKILLed worker's slot to its job's run on another worker, so the tenant's next job still runs", async () => {
    f = await startFabric({ apiKeys: KEYS, tenantLimits: limitsWithCap(1) });
    child = spawn(process.execPath, ['worker/main.ts'], {
      env: { ...process.env, REDIS_URL: redisUrl(), FABRIC_PREFIX: f.keys.prefix, FABRIC_ENGINE: 'fake', FABRIC_FAKE_TPS: '10', FABRIC_FAKE_LOAD_MS: '0', FABRIC_PRELOAD: 'fake-small', FABRIC_WORKER_ID: 'doomed', FABRIC_WORKER_PORT: '0', FABRIC_HEARTBEAT_INTERVAL: '300ms', FABRIC_TENANT_SLOT_LEASE: '60s', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await waitFor(async () => (await call(f.url, '/api/ps', { headers: as('key-a') })).json.models.length === 1, 30_000, 100);
    const submit = async (prompt: string) => (await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt, options: { num_predict: 30 } } }, headers: as('key-a') })).json.id as string;
    const first = await submit('killed mid-job');
    await waitFor(async () => {
      const r = await call(f.url, `/v1/jobs/${first}`, { headers: as('key-a') });
      return r.json.status === 'running' && r.json.worker === 'doomed';
    }, 10_000);
    const next = await submit('next in line');
    const survivor = await f.addWorker({ tokensPerSecond: 0 }, { preload: [MODEL] });
    child.kill('SIGKILL');
    const killedAt = Date.now();
    const a = await finished(f.url, first, 'key-a', 20_000);
    const b = await finished(f.url, next, 'key-a', 20_000);
    console.info(`SIGKILLed worker (slot lease 60 s): its job finished elsewhere ${a.finishedAt! - killedAt} ms after the kill, the next job started ${b.startedAt! - a.finishedAt!} ms after that`);
    expect([a.status, a.worker, b.status, b.worker]).toEqual(['succeeded', survivor.id, 'succeeded', survivor.id]);
    expect(b.startedAt).toBeGreaterThanOrEqual(a.finishedAt!);
    // Woken when the slot came back, not left to its put-back wait (up to 2 s by then).
    expect(b.startedAt! - a.finishedAt!).toBeLessThan(1_000);
    // Well inside the dead worker's 60 s lease: the slot went on with its job, it did not leak.
    expect(b.finishedAt! - killedAt).toBeLessThan(15_000);
    expect(await new TenantSlots(f.redis, f.keys).holders('team-a')).toEqual([]);
  }, 60_000);
});

describe('running cap settings', () => {
  it('waits 200 ms doubling to at most 2 s between put-backs by default, and reads the slot lease from FABRIC_TENANT_SLOT_LEASE', () => {
    const o = workerOptions({});
    const gate = new TenantGate({} as TenantSlots, { wake: async () => false, close: async () => undefined }, log, { leaseMs: o.tenantSlotLeaseMs, deferMinMs: o.tenantDeferMinMs, deferMaxMs: o.tenantDeferMaxMs });
    const waits = Array.from({ length: 40 }, (_, n) => gate.backoffMs(n));
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...waits)).toBeLessThanOrEqual(2_000);
    expect(waits[0]).toBe(200);
    expect(Math.min(...waits.slice(5))).toBeGreaterThanOrEqual(1_500);
    expect(o.tenantSlotLeaseMs).toBe(15_000);
    expect(workerConfigFromEnv({ FABRIC_ENGINE: 'fake', FABRIC_TENANT_SLOT_LEASE: '30s' }).node.tenantSlotLeaseMs).toBe(30_000);
    expect(() => workerOptions({ tenantDeferMinMs: 500, tenantDeferMaxMs: 100 })).toThrow(/tenantDeferMaxMs/);
    expect(() => workerOptions({ tenantSlotLeaseMs: 10 })).toThrow(/tenantSlotLeaseMs/);
  });
});
