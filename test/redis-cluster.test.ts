/**
 * The fabric on a real Redis Cluster: three masters started by the test (`redis-server
 * --cluster-enabled yes`, `redis-cli --cluster create`), the API and a fake-engine worker in this
 * process connected through `redis+cluster://`. Every multi-key script and MULTI the fabric runs
 * must keep to one slot here, or Redis answers CROSSSLOT.
 */
import OpenAI, { toFile } from 'openai';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectForRequests, type ApiConnections } from '../store/redis-config.ts';
import { createKeys } from '../protocol/keys.ts';
import { queueKeys } from '../store/queue-keys.ts';
import { generateWebhookSecret } from '../protocol/webhook-signing.ts';
import { readSnapshot, startScheduler } from '../scheduler/index.ts';
import { tenantLimits } from '../protocol/tenant-limits.ts';
import { call, log, startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { RedisTopology, tearDown, type RedisProcess } from './support/redis-topology.ts';
import { startReceiver, type WebhookReceiver } from './support/webhook-receiver.ts';

let topology: RedisTopology | undefined;
let f: TestFabric;
let receiver: WebhookReceiver | undefined;
let nodes: RedisProcess[];
/** Served models, one whose queue is on each master. */
let served: string[];
/** A model in the catalog that no worker loads: its jobs stay queued. */
const PARKED = 'parked:latest';
let admin: Redis;
let conns: ApiConnections | undefined;

const KEYS = new Map([
  ['key-a', 'team-a'],
  ['key-b', 'team-b'],
  ['key-c', 'team-c'],
]);
const as = (key: string) => ({ authorization: `Bearer ${key}` });

/** The port of the master serving `key`'s slot. */
async function ownerOf(key: string): Promise<number> {
  const slot = Number(await admin.call('CLUSTER', 'KEYSLOT', key));
  const ranges = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (!range) throw new Error(`no node serves slot ${slot}`);
  return range[2][1];
}

/** One model name per master: the first of `m0:latest`, `m1:latest`, ... whose queue lands on it. */
async function oneModelPerMaster(): Promise<string[]> {
  const byPort = new Map<number, string>();
  for (let i = 0; byPort.size < nodes.length && i < 200; i++) {
    const model = `m${i}:latest`;
    const port = await ownerOf(queueKeys('x', model).wait);
    if (!byPort.has(port)) byPort.set(port, model);
  }
  return [...byPort.values()];
}

beforeAll(async () => {
  topology = new RedisTopology();
  nodes = await topology.startCluster(3);
  admin = new Redis(nodes[0]!.port, '127.0.0.1');
  served = await oneModelPerMaster();
  const url = `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  // The API's two roles, as producer-api/main.ts makes them: request handlers fail fast, the rest waits.
  conns = await connectForRequests({ redisUrl: url });
  const keys = createKeys(`cluster-${Date.now()}`);
  const limits = tenantLimits({ tenants: { 'team-c': { maxWaiting: 2 } } });
  f = await startFabric({ apiKeys: KEYS, tenantLimits: limits, expirySweepMs: 200 }, {}, { redis: conns.background, requests: conns.requests, keys });
  const models = [...served, PARKED].map((name) => ({ name, sizeBytes: 100_000_000 }));
  await f.addWorker({ models, tokensPerSecond: 400 }, { preload: served });
  await f.startWebhooks(generateWebhookSecret());
  receiver = await startReceiver();
}, 60_000);

afterAll(async () => {
  admin?.disconnect();
  await receiver?.close();
  await tearDown(f, topology);
  conns?.disconnect();
});

describe('Redis Cluster', () => {
  it('runs jobs of several models to the end, each model\'s queue and its jobs\' records on one master, the models on different masters', async () => {
    expect(served).toHaveLength(3);
    const ids = new Map<string, string[]>();
    await Promise.all(
      served.flatMap((model) =>
        [0, 1, 2, 3].map(async (n) => {
          const r = await call(f.url, '/v1/jobs', { body: { model, input: { prompt: `job ${n}`, options: { num_predict: 4 } } }, headers: as('key-a') });
          expect(r.status).toBe(202);
          ids.set(model, [...(ids.get(model) ?? []), r.json.id]);
        }),
      ),
    );
    for (const [, list] of ids) {
      for (const id of list) expect((await call(f.url, `/v1/jobs/${id}?wait=20`, { headers: as('key-a') })).json.status).toBe('succeeded');
    }
    const owners = new Set<number>();
    for (const model of served) {
      const q = queueKeys(f.keys.bullPrefix, model);
      const port = await ownerOf(q.wait);
      owners.add(port);
      const node = new Redis(port, '127.0.0.1');
      try {
        for (const id of ids.get(model)!) {
          expect(await ownerOf(f.keys.job(id))).toBe(port);
          // The record and BullMQ's job hash are on that master itself (no redirect needed).
          expect(await node.exists(f.keys.job(id), f.keys.jobEvents(id), q.job(id))).toBe(3);
        }
      } finally {
        node.disconnect();
      }
    }
    expect(owners.size).toBe(3);
    // The ledger followed every job: the tenant's counts on its slot, the fleet's total on the fleet's.
    expect(await f.api.store.ledger.counts('team-a')).toEqual({ queued: 0, running: 0 });
    expect((await f.api.store.ledger.totals(null)).succeeded).toBeGreaterThanOrEqual(12);
  }, 40_000);

  it('streams a job\'s events, returns the same job for a repeated Idempotency-Key and delivers its webhook', async () => {
    const body = { model: served[0], input: { prompt: 'stream me', options: { num_predict: 5 } }, webhook: { url: receiver!.url, events: ['job.completed'] } };
    const headers = { ...as('key-a'), 'idempotency-key': 'cluster-once' };
    const first = await call(f.url, '/v1/jobs', { body, headers });
    const again = await call(f.url, '/v1/jobs', { body, headers });
    expect(first.status).toBe(202);
    expect(again.json.id).toBe(first.json.id);
    const text = await (await fetch(`${f.url}/v1/jobs/${first.json.id}/events`, { headers: as('key-a'), signal: AbortSignal.timeout(20_000) })).text();
    const events = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(events).toContain('token');
    expect(events.at(-1)).toBe('result');
    await waitFor(async () => receiver!.got.length >= 1, 10_000);
    expect(JSON.parse(receiver!.got[0]!.body)).toMatchObject({ type: 'job.completed', data: { id: first.json.id } });
    const job = await waitFor(async () => {
      const r = await call(f.url, `/v1/jobs/${first.json.id}`, { headers: as('key-a') });
      return r.json.webhook_deliveries?.length ? r.json : undefined;
    }, 5_000);
    expect(job.webhook_deliveries[0]).toMatchObject({ event: 'job.completed', ok: true });
  }, 30_000);

  it('cancels a queued job and expires one past its ttl through the sweeper', async () => {
    const queued = await call(f.url, '/v1/jobs', { body: { model: PARKED, input: { prompt: 'never' } }, headers: as('key-a') });
    const canceled = await call(f.url, `/v1/jobs/${queued.json.id}/cancel`, { method: 'POST', headers: as('key-a') });
    expect(canceled.json.status).toBe('canceled');
    const late = await call(f.url, '/v1/jobs', { body: { model: PARKED, input: { prompt: 'late' }, ttl: 1 }, headers: as('key-a') });
    const expired = await waitFor(async () => {
      const rec = await f.api.store.get(late.json.id);
      return rec?.status === 'expired' ? rec : undefined;
    }, 5_000, 100);
    expect(expired.startedAt).toBeNull();
  }, 15_000);

  it('caps a tenant\'s waiting jobs and gives another tenant its fair turn in a model\'s queue', async () => {
    const job = (prompt: string) => ({ model: PARKED, input: { prompt } });
    const c1 = await call(f.url, '/v1/jobs', { body: job('c1'), headers: as('key-c') });
    const c2 = await call(f.url, '/v1/jobs', { body: job('c2'), headers: as('key-c') });
    expect([c1.status, c2.status]).toEqual([202, 202]);
    const c3 = await call(f.url, '/v1/jobs', { body: job('c3'), headers: as('key-c') });
    expect(c3.status).toBe(429);
    expect(c3.json.error.code).toBe('too_many_waiting_jobs');
    await call(f.url, `/v1/jobs/${c1.json.id}/cancel`, { method: 'POST', headers: as('key-c') });
    expect((await call(f.url, '/v1/jobs', { body: job('c4'), headers: as('key-c') })).status).toBe(202);

    // team-a queues four jobs, then team-b one: it goes in after team-a's first, not after all four.
    for (let i = 0; i < 4; i++) expect((await call(f.url, '/v1/jobs', { body: job(`a${i}`), headers: as('key-a') })).status).toBe(202);
    const b = await call(f.url, '/v1/jobs', { body: job('b'), headers: as('key-b') });
    const aLast = await call(f.url, '/v1/jobs', { body: job('a-last'), headers: as('key-a') });
    expect(aLast.json.queue.position - b.json.queue.position).toBeGreaterThanOrEqual(3);
  }, 15_000);

  it('runs a Batch API batch to completion', async () => {
    const client = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'key-b', maxRetries: 0 });
    const lines = ['one', 'two', 'three'].map((id, i) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: served[i], messages: [{ role: 'user', content: id }], max_tokens: 3 } }));
    const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'input.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const done = await waitFor(async () => {
      const batch = await client.batches.retrieve(created.id);
      return ['completed', 'failed'].includes(batch.status) ? batch : null;
    }, 20_000, 100);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    const out = (await (await client.files.content(done.output_file_id!)).text()).trim().split('\n').map((l) => JSON.parse(l));
    expect(out.map((l) => l.custom_id).sort()).toEqual(['one', 'three', 'two']);
    // Each line's job record and events went once its result was in the output (keys on the job's and the tenant's slots).
    for (const l of out) expect(await f.redis.exists(f.keys.job(l.response.request_id))).toBe(0);
  }, 30_000);

  it('lets the scheduler read every model\'s queue across the masters and load the parked model, whose waiting jobs then run', async () => {
    const snap = await readSnapshot(f.redis, f.keys, Date.now());
    const parked = snap.queues.get(PARKED)!;
    expect(parked.waiting).toBeGreaterThan(0);
    expect(parked.oldestWaitMs).toBeGreaterThan(0);
    for (const model of served) expect(snap.queues.get(model)).toMatchObject({ waiting: 0 });
    const scheduler = await startScheduler({ redis: f.redis, keys: f.keys, log, options: { tickMs: 60_000, policy: { minResidencyMs: 0 } } });
    try {
      await scheduler.trigger('manual');
      await waitFor(async () => (await readSnapshot(f.redis, f.keys, Date.now())).queues.get(PARKED)!.waiting === 0, 15_000, 100);
    } finally {
      await scheduler.close();
    }
  }, 30_000);
});
