import { afterEach, describe, expect, it } from 'vitest';
import { startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { jobKeysPattern } from './support/redis.ts';

let f: TestFabric;
afterEach(async () => f?.close());

async function onlyJobStatus(): Promise<string | undefined> {
  const keys = (await f.redis.keys(jobKeysPattern(f.keys))).filter((k) => !/:(events|deliveries)$/.test(k));
  if (keys.length !== 1) return undefined;
  return (await f.redis.hget(keys[0]!, 'status')) ?? undefined;
}

describe('Ollama-compatible routes when the caller goes away', () => {
  for (const stream of [true, false]) {
    it(`cancel the job of a ${stream ? 'streaming' : 'non-streaming'} request whose client disconnects`, async () => {
      f = await startFabric();
      await f.addWorker({ tokensPerSecond: 20 }, { preload: ['fake-small:latest'] });
      const ac = new AbortController();
      const req = fetch(`${f.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'fake-small', prompt: 'long', stream, options: { num_predict: 500 } }), signal: ac.signal });
      await waitFor(async () => (await onlyJobStatus()) === 'running');
      ac.abort();
      await req.then((r) => r.text()).catch(() => undefined);
      expect(await waitFor(async () => ((await onlyJobStatus()) === 'canceled' ? 'canceled' : undefined), 5_000)).toBe('canceled');
    });
  }
});
