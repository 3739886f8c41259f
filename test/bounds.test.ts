/** Bounds that hold under concurrency and hostile names: the backlog limit and metric label sets. */
import { afterEach, describe, expect, it } from 'vitest';
import { queueKeys } from '../store/queue-keys.ts';
import { call, startFabric, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
afterEach(async () => {
  await f?.close();
});

const MODEL = 'bounded:latest';
const catalogEntry = { name: MODEL, sizeBytes: 1e9, engine: 'fake', family: null, parameterSize: null, quantization: null, digest: null, modifiedAt: '', contextLength: null, estimatedBytes: null };

describe('bounds', () => {
  it('never lets 200 concurrent submissions take a queue past FABRIC_MAX_BACKLOG=50', async () => {
    f = await startFabric({ maxBacklog: 50 });
    await f.redis.hset(f.keys.catalog(), MODEL, JSON.stringify(catalogEntry));
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => call(f.url, '/v1/jobs', { body: { model: MODEL, input: { prompt: `p${i}` }, priority: i % 3 === 0 ? 'high' : 'normal' } })));
    const accepted = results.filter((r) => r.status === 202);
    const refused = results.filter((r) => r.status === 503);
    expect(accepted.length + refused.length).toBe(200);
    expect(accepted.length).toBeLessThanOrEqual(50);
    expect(accepted.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.json.error.code).toBe('backlog_full');
      expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    }
    for (const r of accepted) expect(r.json.queue.depth).toBeLessThanOrEqual(50);
    const q = queueKeys(f.keys.bullPrefix, MODEL);
    const [waiting, prioritized] = await Promise.all([f.redis.llen(q.wait), f.redis.zcard(q.prioritized)]);
    expect(waiting + prioritized).toBe(accepted.length);
    console.info(`200 concurrent submits against a limit of 50: ${accepted.length} accepted, ${refused.length} refused with 503`);
  });

  it('counts submissions for invented model names under one unknown label', async () => {
    f = await startFabric();
    for (let i = 0; i < 50; i++) expect((await call(f.url, '/v1/jobs', { body: { model: `invented-${i}`, input: { prompt: 'x' } } })).status).toBe(404);
    const text = (await call(f.url, '/metrics')).text;
    expect(text).not.toMatch(/invented-/);
    expect(text).toMatch(/fabric_jobs_rejected_total\{model="unknown",reason="unknown_model"\} \d+/);
  });
});
