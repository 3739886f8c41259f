/**
 * The whole fabric at small scale: real Redis, the real API, real WorkerNodes on the fake
 * engine with small memory budgets (no GPUs: capacity is the configured memory) and the real
 * scheduler in-process on a short tick. Sizes: fake-small 1 GB, fake-large 4 GB; a 4.5 GB
 * worker less its 10% headroom holds one of them, never both.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Heartbeat } from '../protocol/worker-state.ts';
import { metricScaleActuator } from '../scheduler/actuators/metric.ts';
import { startScheduler, type ScaleActuator, type SchedulerOptionsInput } from '../scheduler/index.ts';
import type { WorkerNode } from '../worker/worker-node.ts';
import { call, log, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

const SMALL = 'fake-small:latest';
const LARGE = 'fake-large:latest';
const ONE_MODEL_BUDGET = 4_500_000_000;

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
});

const SCHEDULER: SchedulerOptionsInput = {
  tickMs: 100,
  // Pre-warm would load models on its own forecast; these tests watch demand-driven moves only.
  policy: { minResidencyMs: 0, replicaWaitTargetMs: 300, prewarmMaxLoads: 0 },
};

interface SentAction {
  action: 'load' | 'unload';
  model: string;
  worker: string;
  reason: string;
}

/** The fabric and a scheduler whose sent commands are recorded (workers delete them from their streams once done). */
async function cluster(scaler?: ScaleActuator, options: SchedulerOptionsInput = SCHEDULER): Promise<TestFabric & { sent: SentAction[] }> {
  const f = await startFabric();
  cleanups.push(() => f.close());
  const sent: SentAction[] = [];
  const schedulerLog = pino(
    { level: 'info' },
    {
      write(line: string) {
        const l = JSON.parse(line) as Record<string, unknown>;
        if (l.msg === 'Scheduler action' && l.action !== 'scale') sent.push({ action: l.action, model: l.model, worker: l.worker, reason: l.reason } as SentAction);
      },
    },
  );
  const scheduler = await startScheduler({ redis: f.redis, keys: f.keys, log: schedulerLog, options, scaler });
  // Closed before the fabric (cleanups run in reverse), as a deployment stops it first.
  cleanups.push(() => scheduler.close());
  return Object.assign(f, { sent });
}

function addWorker(f: TestFabric, o: { preload?: string[]; tokensPerSecond?: number; slotsPerModel?: number } = {}): Promise<WorkerNode> {
  return f.addWorker({ memoryBytes: ONE_MODEL_BUDGET, loadMs: 20, tokensPerSecond: o.tokensPerSecond ?? 200, slotsPerModel: o.slotsPerModel ?? 2 }, { preload: o.preload ?? [] });
}

async function submit(f: TestFabric, model: string, numPredict = 3): Promise<string> {
  const res = await call(f.url, '/v1/jobs', { body: { model, task: 'generate', input: { prompt: 'hi', options: { num_predict: numPredict } } } });
  expect(res.status).toBe(202);
  return res.json.id as string;
}

async function finished(f: TestFabric, id: string, waitS = 15): Promise<{ status: string; worker?: string }> {
  const res = await call(f.url, `/v1/jobs/${id}?wait=${waitS}`);
  return res.json;
}

/** The load and unload commands the scheduler sent to `worker`, in order. */
function commands(f: { sent: SentAction[] }, worker: WorkerNode): { type: string; model: string }[] {
  return f.sent.filter((a) => a.worker === worker.id).map((a) => ({ type: a.action, model: a.model }));
}

/** Waits until `worker`'s heartbeat in Redis (what the scheduler reads) shows a job running on `model`. */
async function busyInHeartbeat(f: TestFabric, worker: WorkerNode, model: string): Promise<void> {
  await waitFor(async () => {
    const hb = JSON.parse((await f.redis.get(f.keys.workerHeartbeat(worker.id))) ?? 'null') as Heartbeat | null;
    return (hb?.resident.find((m) => m.model === model)?.activeJobs ?? 0) > 0;
  }, 5_000);
}

const residentOn = (w: WorkerNode) => w.heartbeat().resident.map((m) => m.model).sort();

describe('cluster: API, workers and scheduler together', () => {
  it('loads a cold model on demand and the job finishes', async () => {
    const f = await cluster();
    const w = await addWorker(f);
    expect(residentOn(w)).toEqual([]);
    const id = await submit(f, 'fake-small');
    expect((await finished(f, id)).status).toBe('succeeded');
    expect(residentOn(w)).toEqual([SMALL]);
    expect(commands(f, w)).toEqual([{ type: 'load', model: SMALL }]);
  });

  it('evicts an idle model to make room for another model with a waiting job', async () => {
    const f = await cluster();
    const w = await addWorker(f, { preload: [LARGE] });
    expect(residentOn(w)).toEqual([LARGE]);
    const id = await submit(f, 'fake-small');
    expect((await finished(f, id)).status).toBe('succeeded');
    expect(residentOn(w)).toEqual([SMALL]);
    // The victim's unload is sent before the load it makes room for.
    expect(commands(f, w)).toEqual([
      { type: 'unload', model: LARGE },
      { type: 'load', model: SMALL },
    ]);
  });

  it('never evicts a model while its heartbeat shows a job running on it, and evicts it once idle', async () => {
    const f = await cluster();
    const w = await addWorker(f, { preload: [LARGE], tokensPerSecond: 20 });
    // 30 tokens at 20/s: about 1.5 s of work on the large model.
    const longJob = await submit(f, 'fake-large', 30);
    await busyInHeartbeat(f, w, LARGE);
    const smallJob = await submit(f, 'fake-small');
    // Many ticks pass while the large model is busy: no unload is ever sent.
    await new Promise((r) => setTimeout(r, 800));
    expect((await call(f.url, `/v1/jobs/${smallJob}`)).json.status).toBe('queued');
    expect(residentOn(w)).toEqual([LARGE]);
    expect(commands(f, w)).toEqual([]);
    expect((await finished(f, longJob)).status).toBe('succeeded');
    // Idle now, so the next decision makes room for the waiting small job.
    expect((await finished(f, smallJob)).status).toBe('succeeded');
    expect(residentOn(w)).toEqual([SMALL]);
    expect(commands(f, w)).toEqual([
      { type: 'unload', model: LARGE },
      { type: 'load', model: SMALL },
    ]);
  });

  it('places a blocked cold backlog as soon as the busy model goes idle, on the worker’s signal rather than a tick', async () => {
    // Ticks a minute apart: only the API's wake (cold arrival) and the worker's idle signal drive decisions.
    const f = await cluster(undefined, { ...SCHEDULER, tickMs: 60_000 });
    const w = await addWorker(f, { preload: [LARGE], tokensPerSecond: 20 });
    const longJob = await submit(f, 'fake-large', 30);
    await busyInHeartbeat(f, w, LARGE);
    const smallJob = await submit(f, 'fake-small');
    await new Promise((r) => setTimeout(r, 300));
    // The wake's decision found no room (the large model is busy): nothing sent, the job waits.
    expect(commands(f, w)).toEqual([]);
    expect((await finished(f, longJob)).status).toBe('succeeded');
    const t0 = Date.now();
    const small = await finished(f, smallJob, 10);
    const afterIdleMs = Date.now() - t0;
    console.log(`blocked cold job finished ${afterIdleMs} ms after the busy model's job`);
    expect(small.status).toBe('succeeded');
    expect(afterIdleMs).toBeLessThan(5_000);
    expect(commands(f, w)).toEqual([
      { type: 'unload', model: LARGE },
      { type: 'load', model: SMALL },
    ]);
  });

  // A heartbeat's per-model activeJobs lags a job start by up to one interval; the policy
  // also reads the queue's active count, so a job that just started protects its model.
  it('never evicts a model whose job started after its last heartbeat', async () => {
    const f = await cluster();
    const w = await addWorker(f, { preload: [LARGE], tokensPerSecond: 20 });
    const longJob = await submit(f, 'fake-large', 30);
    // As soon as BullMQ has it active, before any heartbeat can show it.
    await waitFor(async () => (await call(f.url, `/v1/jobs/${longJob}`)).json.status === 'running', 5_000, 5);
    await submit(f, 'fake-small');
    await new Promise((r) => setTimeout(r, 800));
    expect(residentOn(w)).toEqual([LARGE]);
    expect(commands(f, w)).toEqual([]);
  });

  it('grows a second replica on another worker when a backlog waits past its target', async () => {
    const f = await cluster();
    // One slot at 25 tokens/s: each 10-token job takes about 0.4 s, so a burst of 8 waits seconds on one replica.
    const first = await addWorker(f, { preload: [SMALL], tokensPerSecond: 25, slotsPerModel: 1 });
    const second = await addWorker(f, { tokensPerSecond: 25, slotsPerModel: 1 });
    const ids = await Promise.all(Array.from({ length: 8 }, () => submit(f, 'fake-small', 10)));
    await waitFor(async () => residentOn(second).includes(SMALL), 10_000);
    expect(commands(f, second)).toContainEqual({ type: 'load', model: SMALL });
    const results = await Promise.all(ids.map((id) => finished(f, id)));
    expect(results.map((r) => r.status)).toEqual(Array(8).fill('succeeded'));
    // Both replicas served the backlog.
    expect(new Set(results.map((r) => r.worker))).toEqual(new Set([first.id, second.id]));
  });

  it('asks for one more worker when no worker has room, and the new worker then takes the job', async () => {
    const metric = metricScaleActuator({ minWorkers: 1, maxWorkers: 4 }, { log });
    // The cost knob at 0 buys a worker for blocked demand at once; priced (the default), a job
    // blocked for seconds is not worth a worker (test/scheduler-policy.test.ts prices it).
    const f = await cluster(metric, { ...SCHEDULER, policy: { ...SCHEDULER.policy, scaleWaitMsPerGpuSecond: 0 } });
    await addWorker(f, { preload: [LARGE], tokensPerSecond: 10 });
    // The only worker is full of a busy model: the small job fits nowhere.
    const busy = f.workers[0]!;
    const longJob = await submit(f, 'fake-large', 40);
    await busyInHeartbeat(f, busy, LARGE);
    expect(metric.current()).toBeNull();
    const smallJob = await submit(f, 'fake-small');
    const asked = await waitFor(async () => metric.current(), 3_000);
    expect(asked).toMatchObject({ desiredWorkers: 2, reason: 'unplaceable' });
    // What an autoscaler would do with that: start a worker. It takes the job before the busy model frees up.
    const fresh = await addWorker(f);
    const done = await finished(f, smallJob);
    expect(done).toMatchObject({ status: 'succeeded', worker: fresh.id });
    expect((await call(f.url, `/v1/jobs/${longJob}`)).json.status).toBe('running');
  });
});
