/**
 * A mixed fleet at small scale: real Redis, the real API, real WorkerNodes on the fake engine in
 * two pools (small: 1.5 GB workers; large: one worker with two 2.5 GB GPUs, read through a GPU
 * port that reports what the engine holds, filled GPU by GPU) and the real scheduler. Sizes:
 * fake-small 1 GB, fake-large 4 GB: only the two-GPU worker holds fake-large, split across its GPUs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { GpuInfo, Heartbeat } from '../protocol/worker-state.ts';
import { startScheduler, type ScaleActuator, type SchedulerOptionsInput } from '../scheduler/index.ts';
import type { ScaleTarget } from '../scheduler/actuators/scale-actuator.ts';
import { FakeEngine } from '../worker/engines/fake-engine.ts';
import { call, log, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

const GB = 1e9;
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
});

const SCHEDULER: SchedulerOptionsInput = {
  tickMs: 100,
  policy: {
    minResidencyMs: 0,
    prewarmMaxLoads: 0,
    scaleDownCooldownMs: 0,
    pools: [
      { name: 'small', gpuBytes: 1.5 * GB, gpus: 1, minWorkers: 1, maxWorkers: 3 },
      { name: 'large', gpuBytes: 2.5 * GB, gpus: 2, minWorkers: 1, maxWorkers: 1 },
    ],
  },
};

/** Records what a Kubernetes actuator would be asked (the real one is tested against the API stand-in). */
class RecordingActuator implements ScaleActuator {
  readonly calls: { desiredWorkers: number; reason: string; target: ScaleTarget }[] = [];
  async apply(desiredWorkers: number, reason: string, target: ScaleTarget = {}): Promise<void> {
    this.calls.push({ desiredWorkers, reason, target });
  }
}

/** NVML as the engine's residency would show it on `count` GPUs of `gpuBytes`: resident bytes fill GPU 0, then GPU 1. */
function gpuPort(engine: FakeEngine, count: number, gpuBytes: number): { read(): Promise<GpuInfo[]> } {
  return {
    async read() {
      let used = (await engine.resident()).reduce((s, m) => s + m.sizeBytes, 0);
      return Array.from({ length: count }, (_, index) => {
        const mine = Math.min(used, gpuBytes);
        used -= mine;
        return { index, uuid: `fake-${index}`, name: 'fake GPU', memoryTotalBytes: gpuBytes, memoryUsedBytes: mine, memoryFreeBytes: gpuBytes - mine, utilization: 0 };
      });
    },
  };
}

async function fleet(): Promise<TestFabric & { scaler: RecordingActuator }> {
  const f = await startFabric();
  cleanups.push(() => f.close());
  const scaler = new RecordingActuator();
  const scheduler = await startScheduler({ redis: f.redis, keys: f.keys, log, options: SCHEDULER, scaler });
  cleanups.push(() => scheduler.close());
  return Object.assign(f, { scaler });
}

async function run(f: TestFabric, model: string): Promise<{ status: string; worker?: string }> {
  const res = await call(f.url, '/v1/jobs', { body: { model, task: 'generate', input: { prompt: 'hi', options: { num_predict: 3 } } } });
  expect(res.status).toBe(202);
  return (await call(f.url, `/v1/jobs/${res.json.id}?wait=15`)).json;
}

const heartbeatOf = async (f: TestFabric, id: string) => JSON.parse((await f.redis.get(f.keys.workerHeartbeat(id))) ?? 'null') as Heartbeat | null;

describe('cluster: a mixed fleet with worker pools', () => {
  it('puts the large model on the two-GPU worker, the small one on a small worker, then drains and releases an idle small worker', async () => {
    const f = await fleet();
    const small = await f.addWorker({ memoryBytes: 1.5 * GB, loadMs: 20 }, { pool: 'small' });
    const largeEngine = new FakeEngine({ memoryBytes: 5 * GB, loadMs: 20 });
    const large = await f.addWorker(largeEngine, { pool: 'large' }, { gpus: gpuPort(largeEngine, 2, 2.5 * GB) });

    expect(await run(f, 'fake-large')).toMatchObject({ status: 'succeeded', worker: large.id });
    expect(await run(f, 'fake-small')).toMatchObject({ status: 'succeeded', worker: small.id });
    // The 4 GB model spans both 2.5 GB GPUs of the large worker, as NVML reads them.
    const hb = await waitFor(async () => {
      const h = await heartbeatOf(f, large.id);
      return h && h.gpus.length === 2 && h.gpus[1]!.memoryUsedBytes > 0 ? h : null;
    });
    expect(hb.gpus.map((g) => g.memoryUsedBytes)).toEqual([2.5 * GB, 1.5 * GB]);
    expect(hb.pool).toBe('large');

    // A third worker joins the small pool and stays idle: nothing it could hold is worth its GPU.
    const idle = await f.addWorker({ memoryBytes: 1.5 * GB, loadMs: 20 }, { pool: 'small' });
    const drained = await waitFor(async () => {
      const h = await heartbeatOf(f, idle.id);
      return h?.state === 'draining' ? h : null;
    });
    expect(drained).toMatchObject({ drainedForScaleDown: true, resident: [], activeJobs: 0 });
    const release = await waitFor(async () => f.scaler.calls.find((c) => c.reason === 'drained'), 5_000);
    expect(release).toEqual({ desiredWorkers: 1, reason: 'drained', target: { pool: 'small', release: { worker: idle.id, host: drained.host } } });
    // The busy part of the fleet is untouched: the large and the first small worker still run their models.
    expect((await heartbeatOf(f, small.id))?.state).toBe('running');
    expect((await heartbeatOf(f, large.id))?.resident.map((m) => m.model)).toEqual(['fake-large:latest']);
    expect(f.scaler.calls.filter((c) => c.reason === 'drained').every((c) => c.target.release?.worker === idle.id)).toBe(true);
  });
});
