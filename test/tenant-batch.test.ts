/**
 * Batch API lines under tenant limits: they count against the tenant's running cap, and a batch
 * whose tenant used its daily token budget starts no new line until the budget renews.
 */
import OpenAI, { toFile } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { tenantLimits } from '../protocol/tenant-limits.ts';
import { utcDay } from '../store/tenant-ledger.ts';
import { TenantSlots } from '../store/tenant-slots.ts';
import type { GenerateRequest, GenerateResult } from '../worker/engines/port/engine.ts';
import { FakeEngine } from '../worker/engines/fake-engine.ts';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
afterEach(async () => f?.close());

const KEYS = new Map([
  ['key-a', 'team-a'],
  ['key-c', 'team-c'],
]);
const LIMITS = tenantLimits({ tenants: { 'team-a': { maxRunning: 1 }, 'team-c': { dailyTokens: 30 } } });

const chatLine = (id: string, content: string) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: 'fake-small', messages: [{ role: 'user', content }], max_tokens: 8 } });

async function startBatch(client: OpenAI, lines: string[]) {
  const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'input.jsonl'), purpose: 'batch' });
  return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
}

/** Counts generations running at once on this engine. */
class PeakEngine extends FakeEngine {
  now = 0;
  peak = 0;
  override async generate(req: GenerateRequest): Promise<GenerateResult> {
    this.peak = Math.max(this.peak, ++this.now);
    try {
      return await super.generate(req);
    } finally {
      this.now--;
    }
  }
}

describe('Batch API lines and tenant limits', () => {
  it("leaves the tenant's waiting and running counts at zero once a batch and its other jobs are done (batch lines are not counted as waiting)", async () => {
    f = await startFabric({ apiKeys: KEYS, tenantLimits: LIMITS }, { lineJobTtlMs: 60_000 });
    await f.addWorker({ tokensPerSecond: 0 }, { preload: ['fake-small:latest'] });
    await waitFor(async () => (await call(f.url, '/api/ps', { headers: { authorization: 'Bearer key-c' } })).json.models.length === 1);
    const c = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'key-c', maxRetries: 0 });
    const batch = await startBatch(c, Array.from({ length: 6 }, (_, i) => chatLine(`r${i}`, `x${i}`)));
    const run = await call(f.url, '/v1/run', { body: { model: 'fake-small', input: { prompt: 'one' } }, headers: { authorization: 'Bearer key-c' } });
    expect(run.json.status).toBe('succeeded');
    await waitFor(async () => (await c.batches.retrieve(batch.id)).status === 'completed', 20_000, 50);
    expect(await f.redis.hmget(f.keys.tenantJobs('team-c'), 'queued', 'running')).toEqual(['0', '0']);
  });

  it("runs a capped tenant's batch lines one at a time (running cap 1) on an engine with 4 free slots, and finishes every line", async () => {
    f = await startFabric({ apiKeys: KEYS, tenantLimits: LIMITS }, { lineJobTtlMs: 60_000 });
    const engine = new PeakEngine({ tokensPerSecond: 40, slotsPerModel: 4 });
    await f.addWorker(engine, { preload: ['fake-small:latest'] });
    await waitFor(async () => (await call(f.url, '/api/ps', { headers: { authorization: 'Bearer key-a' } })).json.models.length === 1);
    const a = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'key-a', maxRetries: 0 });

    const batch = await startBatch(a, Array.from({ length: 4 }, (_, i) => chatLine(`r${i}`, `line ${i}`)));
    const done = await waitFor(async () => {
      const b = await a.batches.retrieve(batch.id);
      return b.status === 'completed' ? b : null;
    }, 20_000, 50);
    expect(done.request_counts).toMatchObject({ total: 4, completed: 4, failed: 0 });
    const out = (await (await a.files.content(done.output_file_id!)).text()).trim().split('\n').map((l) => JSON.parse(l));
    const spans = await Promise.all(out.map(async (l) => (await f.api.store.get(l.response.request_id))!));
    spans.sort((x, y) => x.startedAt! - y.startedAt!);
    for (let i = 1; i < spans.length; i++) expect(spans[i]!.startedAt).toBeGreaterThanOrEqual(spans[i - 1]!.finishedAt!);
    expect(engine.peak).toBe(1);
    expect(await new TenantSlots(f.redis, f.keys).holders('team-a')).toEqual([]);
  }, 40_000);

  it('pauses a batch whose tenant used its daily token budget (no new line starts, none fails), refuses a new batch with 429, and goes on once the budget renews', async () => {
    f = await startFabric({ apiKeys: KEYS, tenantLimits: LIMITS }, { windowLines: 1, lineJobTtlMs: 60_000 });
    await f.addWorker({ tokensPerSecond: 0 }, { preload: ['fake-small:latest'] });
    await waitFor(async () => (await call(f.url, '/api/ps', { headers: { authorization: 'Bearer key-c' } })).json.models.length === 1);
    const c = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'key-c', maxRetries: 0 });

    // Each line takes 8 completion tokens and a few prompt tokens: three use up the budget of 30.
    const batch = await startBatch(c, Array.from({ length: 6 }, (_, i) => chatLine(`r${i}`, `line number ${i}`)));
    await waitFor(async () => (await c.batches.retrieve(batch.id)).request_counts!.completed >= 3, 10_000, 50);
    await new Promise((r) => setTimeout(r, 1_000));
    const paused = await c.batches.retrieve(batch.id);
    await new Promise((r) => setTimeout(r, 1_000));
    const still = await c.batches.retrieve(batch.id);
    expect(still.status).toBe('in_progress');
    expect(still.request_counts).toEqual(paused.request_counts);
    expect(still.request_counts!.completed).toBeLessThan(6);
    expect(still.request_counts!.failed).toBe(0);

    const refused = await startBatch(c, [chatLine('x', 'more')]).catch((e) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    expect(refused.code).toBe('token_budget_exhausted');

    // Midnight UTC: a new day's usage starts empty.
    await f.redis.del(f.keys.tenantUsage('team-c', utcDay(Date.now())));
    const done = await waitFor(async () => {
      const b = await c.batches.retrieve(batch.id);
      return b.status === 'completed' ? b : null;
    }, 15_000, 50);
    expect(done.request_counts).toMatchObject({ total: 6, completed: 6, failed: 0 });
  }, 40_000);
});
