/**
 * FABRIC_API_PROCESSES: several API processes on one port, restarted when one dies, one
 * `/metrics` that sums them all, and one line for a bad value.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from './support/api-process.ts';
import { call, waitFor } from './support/fabric.ts';
import { exited, spawnEntry, stopChild } from './support/processes.ts';
import { redisUrl, testKeys } from './support/redis.ts';

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await stopChild(c);
});

/** Pids of the processes `pid` forked (the API processes under the primary). */
function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').map(Number).filter((n) => n > 0);
  } catch {
    return [];
  }
}

/** Sum of a counter's samples for POST /v1/run in a Prometheus text page. */
function runRequests(text: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith('fabric_http_requests_total{') && l.includes('method="POST"') && l.includes('route="/v1/run"'))
    .reduce((s, l) => s + Number(l.split(' ').at(-1)), 0);
}

describe('several API processes on one host', () => {
  it('serves from N processes on one port, restarts one that dies, and sums their metrics in one scrape', async () => {
    const prefix = testKeys().prefix;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const api = spawnEntry('producer-api/main.ts', { REDIS_URL: redisUrl(), FABRIC_PREFIX: prefix, PORT: String(port), FABRIC_API_PROCESSES: '2' });
    const worker = spawnEntry('worker/main.ts', { REDIS_URL: redisUrl(), FABRIC_PREFIX: prefix, FABRIC_ENGINE: 'fake', FABRIC_FAKE_TPS: '0', FABRIC_PRELOAD: 'fake-small', FABRIC_WORKER_PORT: '0' });
    children.push(worker, api);
    let out = '';
    api.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    api.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    await waitFor(async () => childPids(api.pid!).length === 2 && (await call(url, '/healthz').catch(() => null))?.status === 200, 90_000).catch((err: Error) => {
      throw new Error(`${err.message}; API processes ${JSON.stringify(childPids(api.pid!))}, primary exit ${api.exitCode}; output: ${out.slice(-2000)}`);
    });
    await waitFor(async () => ((await call(url, '/api/ps')).json.models ?? []).length > 0, 60_000);

    const body = { model: 'fake-small', input: { prompt: 'hello', options: { num_predict: 2 } } };
    // Fresh connections (no keep-alive) so the kernel spreads them over both processes.
    const runs = await Promise.all(Array.from({ length: 40 }, () => call(url, '/v1/run', { body, headers: { connection: 'close' } })));
    expect(runs.map((r) => r.status)).toEqual(Array(40).fill(200));
    expect(runs.every((r) => r.json.status === 'succeeded')).toBe(true);

    // Whichever process takes the scrape, the page counts every process's requests.
    for (let i = 0; i < 4; i++) {
      const m = await call(url, '/metrics', { headers: { connection: 'close' } });
      expect(m.status).toBe(200);
      expect(runRequests(m.text)).toBe(40);
    }

    const [first] = childPids(api.pid!);
    process.kill(first!, 'SIGKILL');
    await waitFor(async () => {
      const pids = childPids(api.pid!);
      return pids.length === 2 && !pids.includes(first!);
    }, 30_000);
    await waitFor(async () => (await call(url, '/v1/run', { body, headers: { connection: 'close' } }).catch(() => null))?.status === 200, 30_000);

    const done = exited(api);
    api.kill('SIGTERM');
    expect((await done).code).toBe(0);
    expect(childPids(api.pid!)).toEqual([]);
  }, 240_000);

  it('ends with code 1 and one line for a bad FABRIC_API_PROCESSES', async () => {
    const r = await exited(spawnEntry('producer-api/main.ts', { REDIS_URL: redisUrl(), FABRIC_API_PROCESSES: 'many' }));
    expect(r.code).toBe(1);
    expect(r.out.split('\n').filter((l) => l.trim() && !l.startsWith('{'))).toEqual(['inference-fabric api did not start: FABRIC_API_PROCESSES must be an integer >= 1, got "many"']);
  }, 60_000);
});
