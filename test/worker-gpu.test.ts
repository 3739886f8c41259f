import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { buildFakeNvml, type FakeNvml } from './support/fake-nvml/build.ts';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { redisUrl } from './support/redis.ts';

let f: TestFabric;
let child: ChildProcess | undefined;
let nvml: FakeNvml | undefined;
afterEach(async () => {
  child?.kill('SIGKILL');
  await f?.close();
  await nvml?.cleanup();
});

describe('a worker process on a GPU', () => {
  it('reads its GPUs through NVML, reports them in heartbeats, and places loads by GPU memory', async () => {
    nvml = await buildFakeNvml();
    await nvml.setState({ gpus: [{ uuid: 'GPU-fake-a', name: 'Fake H100 80GB', totalBytes: 80e9, usedBytes: 78e9, utilization: 40 }] });
    f = await startFabric();
    child = spawn(process.execPath, ['worker/main.ts'], {
      env: {
        ...process.env,
        REDIS_URL: redisUrl(),
        FABRIC_PREFIX: f.keys.prefix,
        FABRIC_ENGINE: 'fake',
        FABRIC_NVML_LIBRARY: nvml.libraryPath,
        FAKE_NVML_STATE: nvml.statePath,
        FABRIC_WORKER_ID: 'gpu-worker',
        FABRIC_WORKER_PORT: '0',
        FABRIC_HEARTBEAT_INTERVAL: '200ms',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const worker = await waitFor(async () => (await call(f.url, '/v1/models')).json.workers.find((w: any) => w.id === 'gpu-worker'), 30_000, 100);
    expect(worker.gpus).toEqual([expect.objectContaining({ uuid: 'GPU-fake-a', name: 'Fake H100 80GB', memory_total_bytes: 80e9, memory_used_bytes: 78e9, utilization: 0.4 })]);
    expect(worker.capacity_bytes).toBe(80e9);
    // 2 GB free on the GPU, less 10% headroom of 80 GB: nothing fits.
    const refused = await call(f.url, '/v1/models/fake-small/load', { method: 'POST' });
    expect(refused.status).toBe(409);
    expect(refused.json.error.code).toBe('insufficient_vram');
    await nvml.setState({ gpus: [{ uuid: 'GPU-fake-a', name: 'Fake H100 80GB', totalBytes: 80e9, usedBytes: 10e9, utilization: 40 }] });
    await waitFor(async () => (await call(f.url, '/v1/models')).json.workers[0].gpus[0].memory_used_bytes === 10e9, 10_000, 100);
    const load = await call(f.url, '/v1/models/fake-small/load', { method: 'POST' });
    expect(load.status).toBe(202);
    await waitFor(async () => (await call(f.url, '/api/ps')).json.models.length === 1, 10_000, 100);
  }, 60_000);
});
