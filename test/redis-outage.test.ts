/**
 * A Redis outage, for real: the API runs as its own process (producer-api/main.ts) against a
 * private redis-server (append-only file, fsynced before every reply: `appendfsync always`, so a
 * record written just before the kill is on disk) that the test kills with SIGKILL and restarts
 * on the same port. While Redis is away every route that needs it answers 503 with a JSON error and
 * Retry-After within 2 s, /readyz says not ready, and no submission is accepted late.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startRedisServer, type PrivateRedisServer } from '../bin/redis-server.ts';
import { call, waitFor } from './support/fabric.ts';
import { spawnEntry, stopChild } from './support/processes.ts';
import { jobKeysPattern, testKeys } from './support/redis.ts';

const MODEL = 'outage-model:latest';
const keys = testKeys();
let dir: string;
let port: number;
let server: PrivateRedisServer;
let api: ChildProcess;
let apiUrl: string;

const catalogEntry = { name: MODEL, sizeBytes: 1e9, engine: 'fake', family: null, parameterSize: null, quantization: null, digest: null, modifiedAt: '', contextLength: null, estimatedBytes: null };
const submit = { model: MODEL, input: { prompt: 'hi' } };

async function withRedis<T>(fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(server.url, { maxRetriesPerRequest: null });
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

async function jobRecords(): Promise<number> {
  return withRedis(async (r) => (await r.keys(jobKeysPattern(keys))).filter((k) => !k.endsWith(':events') && !k.endsWith(':deliveries')).length);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fabric-outage-'));
  port = await freePort();
  server = await startRedisServer({ dir, persistent: true, port, appendfsync: 'always' });
  await withRedis((r) => r.hset(keys.catalog(), MODEL, JSON.stringify(catalogEntry)));
  const apiPort = await freePort();
  apiUrl = `http://127.0.0.1:${apiPort}`;
  api = spawnEntry('producer-api/main.ts', { REDIS_URL: server.url, FABRIC_PREFIX: keys.prefix, PORT: String(apiPort), FABRIC_API_KEYS: '', FABRIC_EXPIRY_SWEEP: '0' });
  await waitFor(async () => (await call(apiUrl, '/readyz').catch(() => ({ status: 0 }))).status === 200, 30_000, 100);
});

afterAll(async () => {
  await stopChild(api);
  server.child.kill('SIGKILL');
  await server.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('Redis outage', () => {
  it('answers 503 with Retry-After within 2 s on every route while Redis is away, accepts nothing late, and serves again when it returns', async () => {
    const before = await call(apiUrl, '/v1/jobs', { body: submit });
    expect(before.status).toBe(202);
    const id = before.json.id as string;
    expect(await jobRecords()).toBe(1);

    server.child.kill('SIGKILL');
    const killedAt = Date.now();
    // /readyz turns 503 within 2 s of losing Redis.
    await waitFor(async () => (await call(apiUrl, '/readyz')).status === 503, 2_000, 20);
    const notReadyAfterMs = Date.now() - killedAt;

    const routes: { path: string; method?: string; body?: unknown; ollama?: boolean }[] = [
      { path: '/readyz' },
      { path: `/v1/jobs/${id}` },
      { path: `/v1/jobs/${id}?wait=5` },
      { path: '/v1/jobs', body: submit },
      { path: '/v1/run', body: submit },
      { path: `/v1/jobs/${id}/cancel`, method: 'POST' },
      { path: `/v1/jobs/${id}/events` },
      { path: '/v1/models' },
      { path: '/api/generate', body: { model: MODEL, prompt: 'hi', stream: false }, ollama: true },
      { path: '/api/chat', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }] }, ollama: true },
      { path: '/api/tags', ollama: true },
      { path: '/api/ps', ollama: true },
    ];
    for (const r of routes) {
      const t0 = Date.now();
      const res = await call(apiUrl, r.path, { method: r.method, body: r.body });
      const ms = Date.now() - t0;
      expect(res.status, `${r.path} during the outage`).toBe(503);
      expect(ms, `${r.path} answered in ${ms} ms`).toBeLessThan(2_000);
      expect(res.headers.get('retry-after'), r.path).toMatch(/^\d+$/);
      if (r.ollama) expect(typeof res.json?.error, r.path).toBe('string');
      else expect(res.json?.error?.code, r.path).toEqual(expect.any(String));
    }
    const metrics = await call(apiUrl, '/metrics');
    expect(metrics.text).toMatch(/fabric_redis_connected\{role="requests"\} 0/);

    server = await startRedisServer({ dir, persistent: true, port, appendfsync: 'always' });
    const backAt = Date.now();
    await waitFor(async () => (await call(apiUrl, '/readyz')).status === 200, 10_000, 50);
    const readyAgainMs = Date.now() - backAt;
    // Nothing sent during the outage was queued to run later.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await jobRecords()).toBe(1);
    const after = await call(apiUrl, '/v1/jobs', { body: submit });
    expect(after.status).toBe(202);
    expect((await call(apiUrl, `/v1/jobs/${id}`)).json.status).toBe('queued');
    expect((await call(apiUrl, '/metrics')).text).toMatch(/fabric_redis_connected\{role="requests"\} 1/);
    console.info(`readyz 503 ${notReadyAfterMs} ms after Redis died; 200 ${readyAgainMs} ms after it returned`);
  }, 60_000);
});
