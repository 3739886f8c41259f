import { afterEach, describe, expect, it } from 'vitest';
import type { GpuInfo } from '../protocol/worker-state.ts';
import { FakeEngine } from '../worker/engines/fake-engine.ts';
import { estimateFootprint } from '../worker/engines/port/footprint-estimate.ts';
import { planLoad } from '../worker/vram-ledger.ts';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

const GiB = 1024 ** 3;

describe('footprint estimate and load plan', () => {
  it('adds weights, an f16 KV cache for every slot, and overhead', () => {
    // llama3-8b-like: 32 layers, 8 kv heads x 128 dims, 8k context, 2 slots.
    const e = estimateFootprint({ weightsBytes: 4.7e9, layers: 32, kvWidth: 8 * 128, contextSize: 8192, slots: 2, overheadBytes: 512 * 1024 ** 2 });
    expect(e.kvCacheBytes).toBe(2 * 32 * 1024 * 8192 * 2 * 2);
    expect(e.totalBytes).toBe(4.7e9 + e.kvCacheBytes + 512 * 1024 ** 2);
  });

  const cases = [
    { name: 'fits with headroom to spare', need: { estimatedBytes: 10 * GiB, measuredBytes: null }, free: 20 * GiB, ok: true },
    { name: 'does not fit once headroom is kept', need: { estimatedBytes: 19 * GiB, measuredBytes: null }, free: 20 * GiB, ok: false },
    { name: 'uses the measured footprint over the estimate', need: { estimatedBytes: 30 * GiB, measuredBytes: 12 * GiB }, free: 20 * GiB, ok: true },
    { name: 'refuses when a measured footprint is larger than the estimate said', need: { estimatedBytes: 8 * GiB, measuredBytes: 22 * GiB }, free: 24 * GiB, ok: false },
  ];
  for (const c of cases) {
    it(`plans a load that ${c.name}`, () => {
      const plan = planLoad('m:latest', c.need, { totalBytes: 24 * GiB, freeBytes: c.free, source: 'gpu' }, { headroomRatio: 0.1 });
      expect(plan.ok).toBe(c.ok);
      expect(plan.needBytes).toBe(c.need.measuredBytes ?? c.need.estimatedBytes);
      if (!plan.ok) expect(plan.reason).toMatch(/needs \d+ bytes/);
    });
  }
});

let f: TestFabric;
afterEach(async () => f?.close());

/** A GPU as NVML would show it; `used` is changed by the engine below. */
function fakeGpu(totalBytes: number, baseUsed: number) {
  let used = baseUsed;
  const gpu = (): GpuInfo => ({ index: 0, uuid: 'GPU-test-0', name: 'Test GPU', memoryTotalBytes: totalBytes, memoryUsedBytes: used, memoryFreeBytes: totalBytes - used, utilization: 0.25 });
  return { reader: { read: async () => [gpu()] }, grow: (bytes: number) => (used += bytes) };
}

/** The fake engine, but its loads occupy `actual` bytes of the fake GPU (more than it estimates). */
class GpuFakeEngine extends FakeEngine {
  private readonly gpu: ReturnType<typeof fakeGpu>;
  private readonly actual: number;
  constructor(gpu: ReturnType<typeof fakeGpu>, actual: number) {
    super({ loadMs: 5 });
    this.gpu = gpu;
    this.actual = actual;
  }
  override async load(model: string) {
    const r = await super.load(model);
    this.gpu.grow(this.actual);
    return r;
  }
  override async unload(model: string) {
    await super.unload(model);
    this.gpu.grow(-this.actual);
  }
}

describe('the ledger in the fabric', () => {
  it('refuses at the API a load that would not fit, with a clear error, and nothing is loaded', async () => {
    f = await startFabric();
    const gpu = fakeGpu(5 * 1e9, 1e9);
    await f.addWorker({}, {}, { gpus: gpu.reader });
    const r = await call(f.url, '/v1/models/fake-large/load', { method: 'POST' });
    expect(r.status).toBe(409);
    expect(r.json.error.code).toBe('insufficient_vram');
    expect(r.json.error.message).toMatch(/needs 4000000000 bytes/);
    const ps = await call(f.url, '/api/ps');
    expect(ps.json.models).toHaveLength(0);
  });

  it('refuses at the worker a load command that would not fit, before the engine loads anything', async () => {
    f = await startFabric();
    const gpu = fakeGpu(5 * 1e9, 1e9);
    const w = await f.addWorker({}, {}, { gpus: gpu.reader });
    await expect(w.load('fake-large:latest')).rejects.toMatchObject({ code: 'insufficient_vram' });
    expect(w.heartbeat().resident).toHaveLength(0);
  });

  it('records the measured footprint from the GPU delta and shows GPU memory and footprints in the API', async () => {
    f = await startFabric();
    const gpu = fakeGpu(24 * 1e9, 1e9);
    const w = await f.addWorker(new GpuFakeEngine(gpu, 1.2e9), {}, { gpus: gpu.reader });
    await w.load('fake-small:latest');
    const models = await call(f.url, '/v1/models');
    const small = models.json.data.find((m: any) => m.id === 'fake-small:latest');
    expect(small.footprint).toEqual({ estimated_bytes: 1e9, measured_bytes: 1.2e9 });
    expect(small.resident_on[0]).toMatchObject({ size_bytes: 1.2e9, estimated_bytes: 1e9 });
    const worker = models.json.workers[0];
    expect(worker.gpus[0]).toMatchObject({ uuid: 'GPU-test-0', memory_total_bytes: 24e9, memory_used_bytes: 2.2e9 });
    expect(worker.capacity_bytes).toBe(24e9);
    const ps = await call(f.url, '/api/ps');
    expect(ps.json.models[0]).toMatchObject({ size: 1.2e9, replicas: [{ estimated_size: 1e9, gpus: ['GPU-test-0'] }] });
    const metrics = await waitFor(async () => {
      const m = await call(f.url, '/metrics');
      return m.text.includes('fabric_gpu_memory_used_bytes{gpu="GPU-test-0"') ? m : undefined;
    });
    expect(metrics.text).toMatch(/fabric_model_footprint_bytes\{model="fake-small:latest",engine="fake",kind="measured"\} 1200000000/);
    expect(metrics.text).toMatch(/fabric_gpu_memory_total_bytes\{gpu="GPU-test-0",worker="[^"]+"\} 24000000000/);
    expect(metrics.text).toMatch(/fabric_gpu_utilization_ratio\{gpu="GPU-test-0",worker="[^"]+"\} 0.25/);
  });

  it('plans the next load from the measured footprint', async () => {
    f = await startFabric();
    const gpu = fakeGpu(24 * 1e9, 1e9);
    const w = await f.addWorker(new GpuFakeEngine(gpu, 1.5e9), {}, { gpus: gpu.reader });
    await w.load('fake-small:latest');
    await w.unload('fake-small:latest');
    const store = await f.redis.hgetall(f.keys.footprints());
    expect(JSON.parse(store['fake fake-small:latest']!)).toMatchObject({ estimatedBytes: 1e9, measuredBytes: 1.5e9 });
    const r = await call(f.url, '/v1/models/fake-small/load', { method: 'POST' });
    expect(r.json.need_bytes).toBe(1.5e9);
  });
});
