import { afterAll, describe, expect, it } from 'vitest';
import { JobStore } from '../store/job-store.ts';
import { newRedis, testKeys } from './support/redis.ts';

const redis = newRedis();
afterAll(() => redis.quit());

function newJob(id: string) {
  return {
    id,
    tenant: 't1',
    model: 'demo:latest',
    task: 'generate' as const,
    priority: 'normal' as const,
    input: { prompt: 'hi' },
    webhook: null,
    metadata: {},
    timeoutMs: 1000,
    deadline: 0,
    createdAt: Date.now(),
  };
}

const guard = { waitKey: 'test-q:wait', prioritizedKey: 'test-q:prioritized', admissionsKey: 'test-q:admissions', maxBacklog: 100, priority: 5 };

describe('job store', () => {
  it('records a transition with its event and refuses one from a terminal status', async () => {
    const store = new JobStore(redis, testKeys(), { resultTtlSec: 60 });
    await store.create(newJob('j1'), guard);
    expect((await store.transition('j1', 'running', ['queued'], { worker: 'w1' })).ok).toBe(true);
    expect((await store.transition('j1', 'succeeded', ['running'], { output: { response: 'x' } })).ok).toBe(true);
    const late = await store.transition('j1', 'canceled', ['queued', 'running']);
    expect(late).toEqual({ ok: false, current: 'succeeded' });
    const rec = await store.get('j1');
    expect(rec?.status).toBe('succeeded');
    expect(rec?.worker).toBe('w1');
    expect(rec?.output).toEqual({ response: 'x' });
    const events = await store.readEvents('j1');
    expect(events.map((e) => JSON.parse(e.data).status)).toEqual(['queued', 'running', 'succeeded']);
    const after = await store.readEvents('j1', events[0]!.id);
    expect(after).toHaveLength(2);
  });

  it('keeps a finished job only for the result ttl', async () => {
    const keys = testKeys();
    const store = new JobStore(redis, keys, { resultTtlSec: 60 });
    await store.create(newJob('j2'), guard);
    expect(await redis.ttl(keys.job('j2'))).toBe(-1);
    await store.transition('j2', 'canceled', ['queued']);
    const ttl = await redis.ttl(keys.job('j2'));
    expect(ttl).toBeGreaterThan(50);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('refuses to create a job past the backlog bound and reports position and depth otherwise', async () => {
    const keys = testKeys();
    const store = new JobStore(redis, keys);
    const g = { waitKey: keys.job('q-wait'), prioritizedKey: keys.job('q-prio'), admissionsKey: keys.job('q-adm'), maxBacklog: 2, priority: 5 };
    await redis.zadd(g.prioritizedKey, 1 * 2 ** 32 + 1, 'high-one', 10 * 2 ** 32 + 2, 'low-one');
    expect(await store.create(newJob('j3'), g)).toEqual({ created: false, backlog: 2 });
    expect(await store.get('j3')).toBeNull();
    expect(await store.create(newJob('j3'), { ...g, maxBacklog: 3 })).toEqual({ created: true, position: 1, depth: 3 });
  });

  it('appends pending text as a token event before the status event of a transition', async () => {
    const store = new JobStore(redis, testKeys());
    await store.create(newJob('j4'), guard);
    await store.transition('j4', 'running', ['queued']);
    await store.appendEvent('j4', 'token', 'a');
    await store.transition('j4', 'succeeded', ['running'], {}, {}, 'bc');
    const events = await store.readEvents('j4');
    expect(events.map((e) => [e.type, e.type === 'token' ? e.data : JSON.parse(e.data).status])).toEqual([
      ['status', 'queued'],
      ['status', 'running'],
      ['token', 'a'],
      ['token', 'bc'],
      ['status', 'succeeded'],
    ]);
  });

  it('answers null for a job that does not exist', async () => {
    const store = new JobStore(redis, testKeys());
    expect(await store.get('nope')).toBeNull();
    expect(await store.transition('nope', 'running', ['queued'])).toEqual({ ok: false, current: null });
  });
});
