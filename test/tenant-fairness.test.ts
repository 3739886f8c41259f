/**
 * The fair-share measurement: tenant A drops 5,000 jobs on one model, then tenant B submits 20
 * (each once the previous finished). Prints B's wait against the bound and A's throughput.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { submitSchema } from '../protocol/job.ts';
import { tenantLimits } from '../protocol/tenant-limits.ts';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
afterEach(async () => f?.close());

const JOB_MS = 250; // num_predict 10 at 40 tokens/s; long against the per-job overhead of a loaded 2-core machine
const SLOTS = 2;
const A_JOBS = 5_000;
const B_JOBS = 20;
const MODEL = 'fake-small:latest';

const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(0.95 * xs.length) - 1]!;

async function doneJobs(tenant: string): Promise<number> {
  return Number((await f.redis.hget(f.keys.tenantUsage(tenant, new Date().toISOString().slice(0, 10)), 'jobs_succeeded')) ?? 0);
}

describe('fair share within a model queue', () => {
  it("serves a small tenant's jobs within a few job times while another tenant has 5,000 waiting", async () => {
    f = await startFabric({ apiKeys: new Map([['key-a', 'team-a'], ['key-b', 'team-b']]), tenantLimits: tenantLimits({ tenants: { 'team-a': {}, 'team-b': {} } }), maxBacklog: 10_000 });
    await f.addWorker({ tokensPerSecond: 1000 / (JOB_MS / 10), slotsPerModel: SLOTS }, { preload: [MODEL] });
    await waitFor(async () => (await call(f.url, '/v1/models', { headers: { authorization: 'Bearer key-a' } })).json.data.find((m: any) => m.id === MODEL)?.resident_on.length > 0);

    const body = submitSchema.parse({ model: MODEL, input: { prompt: 'a', options: { num_predict: 10 } } });
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < A_JOBS) {
          next++;
          await f.api.jobs.submit({ tenant: 'team-a', body, model: MODEL, task: 'generate' });
        }
      }),
    );
    const aWaiting = Number(await f.redis.hget(f.keys.tenantJobs('team-a'), 'queued'));
    // A's throughput alone, then while B is served.
    const soloStart = await doneJobs('team-a');
    await new Promise((r) => setTimeout(r, 2_000));
    const aBefore = await doneJobs('team-a');
    const aSoloRate = (aBefore - soloStart) / 2_000;
    const windowStart = Date.now();

    const waits: number[] = [];
    for (let i = 0; i < B_JOBS; i++) {
      const r = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'b', options: { num_predict: 10 } } }, headers: { authorization: 'Bearer key-b', prefer: 'wait=30' } });
      expect(r.status).toBe(200);
      const rec = await f.api.store.get(r.json.id);
      waits.push(rec!.startedAt! - rec!.createdAt);
    }
    const windowMs = Date.now() - windowStart;
    const aDuring = (await doneJobs('team-a')) - aBefore;

    const bound = (3 * JOB_MS * 2) / SLOTS;
    const fifoWaitSec = (aWaiting * JOB_MS) / SLOTS / 1000;
    const aDrop = 1 - aDuring / windowMs / aSoloRate;
    const bShare = B_JOBS / (B_JOBS + aDuring);
    console.log(
      `fairness: job ${JOB_MS} ms, ${SLOTS} slots, A waiting ${aWaiting} when B started; ` +
        `B p95 wait ${p95(waits)} ms (max ${Math.max(...waits)} ms, bound ${bound} ms; FIFO would be ~${fifoWaitSec.toFixed(0)} s); ` +
        `A alone ${(aSoloRate * 1000).toFixed(1)} jobs/s; in B's ${windowMs} ms window A ran ${aDuring} jobs ` +
        `(throughput drop ${(aDrop * 100).toFixed(0)}%), B's share of the jobs run ${(bShare * 100).toFixed(0)}%`,
    );
    expect(aWaiting).toBeGreaterThan(A_JOBS / 2);
    expect(p95(waits)).toBeLessThanOrEqual(bound);
    // A loses no more than B's share (plus slack for a loaded machine's timing).
    expect(aDrop).toBeLessThanOrEqual(bShare + 0.15);
  }, 90_000);
});
