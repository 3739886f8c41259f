import { afterEach, describe, expect, it } from 'vitest';
import { duplicateClient } from '../store/redis-client.ts';
import { FakeEngine } from '../worker/engines/fake-engine.ts';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

/** A fake engine whose server can "go away", as an Ollama server next to a worker can. */
class FlakyEngine extends FakeEngine {
  up = true;
  async healthy() {
    return this.up;
  }
}

let f: TestFabric;
afterEach(async () => f?.close());

describe('engine health', () => {
  it('stops taking jobs while the engine does not answer, keeps them queued, and resumes when it answers', async () => {
    f = await startFabric();
    const engine = new FlakyEngine({ tokensPerSecond: 0 });
    await f.addWorker(engine, { preload: ['fake-small:latest'], residencyCheckMs: 100 });
    engine.up = false;
    await waitFor(async () => (await call(f.url, '/v1/models')).json.workers[0].engine_healthy === false);
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'wait for me' } } });
    await new Promise((r) => setTimeout(r, 500));
    expect((await call(f.url, `/v1/jobs/${sub.json.id}`)).json.status).toBe('queued');
    expect((await call(f.url, '/v1/models/fake-large/load', { method: 'POST' })).status).toBe(409);
    engine.up = true;
    const done = await call(f.url, `/v1/jobs/${sub.json.id}?wait=10`);
    expect(done.json.status).toBe('succeeded');
  });
});

describe('engine out of memory', () => {
  it('wakes the scheduler when a job fails for lack of engine memory', async () => {
    f = await startFabric();
    await f.addWorker({ tokensPerSecond: 0 }, { preload: ['fake-small:latest'] });
    const sub = duplicateClient(f.redis);
    const woke: string[] = [];
    await sub.subscribe(f.keys.schedulerWake());
    sub.on('message', (_c: string, m: string) => woke.push(m));
    await call(f.url, '/v1/run', { body: { model: 'fake-small', input: { prompt: 'FAIL:out_of_memory' } } });
    await waitFor(async () => woke.includes('fake-small:latest'));
    sub.disconnect();
  });
});
