/**
 * Honest start-up: a start that cannot succeed ends with a non-zero code and one line saying
 * what to fix, instead of a stack trace or a process that serves nothing.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../bin/redis-server.ts';
import { exited, spawnEntry } from './support/processes.ts';
import { redisUrl, testKeys } from './support/redis.ts';

let blocker: Server | undefined;
afterEach(() => {
  blocker?.close();
  blocker = undefined;
});

/** The lines a failed start printed, without the structured (JSON) log lines. */
function plainLines(out: string): string[] {
  return out.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
}

describe('start-up', () => {
  it('ends the API with code 1 and one line naming a bad variable', async () => {
    const r = await exited(spawnEntry('producer-api/main.ts', { REDIS_URL: redisUrl(), PORT: 'abc' }));
    expect(r.code).toBe(1);
    expect(plainLines(r.out)).toEqual(['inference-fabric api did not start: PORT must be an integer >= 0, got "abc"']);
  }, 60_000);

  it('ends the API with code 1 and one line naming a variable its options refuse', async () => {
    const r = await exited(spawnEntry('producer-api/main.ts', { REDIS_URL: redisUrl(), PORT: String(await freePort()), FABRIC_PREFIX: testKeys().prefix, FABRIC_FILE_TTL: '0' }));
    expect(r.code).toBe(1);
    expect(plainLines(r.out)).toEqual(['inference-fabric api did not start: FABRIC_FILE_TTL (batch fileTtlMs) must be > 0, got 0']);
  }, 60_000);

  it('ends the API with code 1 and one line when its port is in use', async () => {
    const port = await freePort();
    blocker = createServer();
    await new Promise<void>((r) => blocker!.listen(port, '127.0.0.1', () => r()));
    const r = await exited(spawnEntry('producer-api/main.ts', { REDIS_URL: redisUrl(), PORT: String(port), FABRIC_PREFIX: testKeys().prefix }));
    expect(r.code).toBe(1);
    expect(plainLines(r.out)).toEqual([`inference-fabric api did not start: API: port ${port} on 127.0.0.1 is already in use; stop what holds it or set PORT to another port`]);
  }, 60_000);

  it('ends npm start with code 1 when the REDIS_URL it was given does not answer, without starting a private Redis', async () => {
    const deadPort = await freePort();
    const t0 = Date.now();
    const r = await exited(spawnEntry('bin/start.ts', { REDIS_URL: `redis://127.0.0.1:${deadPort}`, FABRIC_ENGINE: 'fake', PORT: String(await freePort()) }));
    expect(r.code).toBe(1);
    expect(plainLines(r.out)).toEqual([
      `inference-fabric start did not start: no Redis answers at redis://127.0.0.1:${deadPort} (REDIS_URL); start Redis there, or unset REDIS_URL to let npm start run a private one`,
    ]);
    expect(r.out).not.toContain('private redis-server');
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 60_000);

  it('ends npm start with code 1 when the API port is in use, before a worker or scheduler starts', async () => {
    const port = await freePort();
    blocker = createServer();
    await new Promise<void>((r) => blocker!.listen(port, '127.0.0.1', () => r()));
    const r = await exited(spawnEntry('bin/start.ts', { REDIS_URL: redisUrl(), FABRIC_PREFIX: testKeys().prefix, FABRIC_ENGINE: 'fake', FABRIC_WORKER_PORT: '0', FABRIC_SCHEDULER_PORT: '0', PORT: String(port) }));
    expect(r.code).toBe(1);
    expect(plainLines(r.out)).toEqual([`inference-fabric start did not start: API: port ${port} on 127.0.0.1 is already in use; stop what holds it or set PORT to another port`]);
    expect(r.out).not.toContain('inference-fabric is running');
    // The port is checked before a worker or scheduler starts, so a second start never joins the fleet.
    expect(r.out).not.toMatch(/"component":"(worker|scheduler)"/);
  }, 60_000);
});
