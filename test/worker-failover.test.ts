import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { QUEUE_SETTINGS_DEFAULTS } from '../protocol/queue-settings.ts';
import { redisUrl } from './support/redis.ts';

let f: TestFabric;
let child: ChildProcess | undefined;
afterEach(async () => {
  child?.kill('SIGKILL');
  await f?.close();
});

function spawnWorker(prefix: string, workerId: string): ChildProcess {
  return spawn(process.execPath, ['worker/main.ts'], {
    env: {
      ...process.env,
      REDIS_URL: redisUrl(),
      FABRIC_PREFIX: prefix,
      FABRIC_ENGINE: 'fake',
      FABRIC_FAKE_TPS: '10',
      FABRIC_FAKE_LOAD_MS: '0',
      FABRIC_PRELOAD: 'fake-small',
      FABRIC_WORKER_ID: workerId,
      FABRIC_WORKER_PORT: '0',
      FABRIC_HEARTBEAT_INTERVAL: '300ms',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

describe('worker failure', () => {
  it('finishes a killed worker’s running job on another worker within about 15 s', async () => {
    f = await startFabric();
    child = spawnWorker(f.keys.prefix, 'doomed');
    await waitFor(async () => (await call(f.url, '/api/ps')).json.models.length === 1, 30_000, 100);
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'survive', options: { num_predict: 30 } } } });
    await waitFor(async () => {
      const r = await call(f.url, `/v1/jobs/${sub.json.id}`);
      return r.json.status === 'running' && r.json.worker === 'doomed';
    }, 10_000);
    const survivor = await f.addWorker({ tokensPerSecond: 0 }, { preload: ['fake-small:latest'] });
    child.kill('SIGKILL');
    const killedAt = Date.now();
    const done = await waitFor(async () => {
      const r = await call(f.url, `/v1/jobs/${sub.json.id}`);
      return r.json.status === 'succeeded' ? r : undefined;
    }, 20_000, 100);
    const recoveryMs = Date.now() - killedAt;
    console.info(`killed worker's job finished elsewhere ${recoveryMs} ms after SIGKILL`);
    expect(done.json.worker).toBe(survivor.id);
    expect(done.json.output.response.split(' ')).toHaveLength(30);
    expect(recoveryMs).toBeLessThan(15_000);
  }, 60_000);

  it('runs a SIGKILLed worker’s job again on another worker within 8 s with the production queue settings, once', async () => {
    f = await startFabric();
    child = spawnWorker(f.keys.prefix, 'doomed-defaults');
    await waitFor(async () => (await call(f.url, '/api/ps')).json.models.length === 1, 30_000, 100);
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'survive', options: { num_predict: 50 } } } });
    await waitFor(async () => {
      const r = await call(f.url, `/v1/jobs/${sub.json.id}`);
      return r.json.status === 'running' && r.json.worker === 'doomed-defaults';
    }, 10_000);
    const survivor = await f.addWorker({ tokensPerSecond: 0 }, { preload: ['fake-small:latest'], queue: QUEUE_SETTINGS_DEFAULTS });
    child.kill('SIGKILL');
    const killedAt = Date.now();
    const done = await waitFor(async () => {
      const r = await call(f.url, `/v1/jobs/${sub.json.id}`);
      return r.json.status === 'succeeded' ? r : undefined;
    }, 20_000, 50);
    const recoveryMs = Date.now() - killedAt;
    console.info(`with the default lock (${QUEUE_SETTINGS_DEFAULTS.lockDurationMs} ms) and stalled check (${QUEUE_SETTINGS_DEFAULTS.stalledIntervalMs} ms): done elsewhere ${recoveryMs} ms after SIGKILL`);
    expect(done.json.worker).toBe(survivor.id);
    expect(recoveryMs).toBeLessThan(8_000);
    const statuses = (await f.api.store.readEvents(sub.json.id)).filter((e) => e.type === 'status').map((e) => JSON.parse(e.data) as { status: string; worker?: string });
    expect(statuses.filter((e) => e.status === 'succeeded')).toHaveLength(1);
    expect(statuses.filter((e) => e.status === 'running').map((e) => e.worker)).toEqual(['doomed-defaults', survivor.id]);
  }, 60_000);

  it('drains on SIGTERM: the active job finishes and the worker deregisters', async () => {
    f = await startFabric();
    child = spawnWorker(f.keys.prefix, 'draining');
    await waitFor(async () => (await call(f.url, '/api/ps')).json.models.length === 1, 30_000, 100);
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'finish me', options: { num_predict: 10 } } } });
    await waitFor(async () => (await call(f.url, `/v1/jobs/${sub.json.id}`)).json.status === 'running', 10_000);
    child.kill('SIGTERM');
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    const done = await call(f.url, `/v1/jobs/${sub.json.id}?wait=15`);
    expect(done.json.status).toBe('succeeded');
    expect(done.json.worker).toBe('draining');
    expect(await exited).toBe(0);
    expect(await f.redis.exists(f.keys.workerHeartbeat('draining'))).toBe(0);
  }, 60_000);
});
