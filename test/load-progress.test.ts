import { afterEach, describe, expect, it } from 'vitest';
import { OllamaEngine } from '../worker/engines/ollama/ollama-engine.ts';
import { startFakeOllama, type FakeOllama } from './support/fake-ollama.ts';
import { call, log, startFabric, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
let ollama: FakeOllama;
afterEach(async () => {
  await f?.close();
  await ollama?.stop();
});

describe('load progress', () => {
  it('publishes an on-demand pull as loading_model progress on the jobs waiting for the model', async () => {
    ollama = await startFakeOllama({ registry: [{ name: 'qwen2:0.5b', size: 352_000_000 }] });
    f = await startFabric();
    const w = await f.addWorker(new OllamaEngine({ url: ollama.url, pull: true }, { logger: log }));
    // An operator declares a model the server does not have yet; with pull on, a load fetches it.
    await f.redis.hset(f.keys.catalog(), 'qwen2:0.5b', JSON.stringify({ name: 'qwen2:0.5b', sizeBytes: 352_000_000, engine: 'ollama', family: null, parameterSize: null, quantization: null, digest: null, modifiedAt: '', contextLength: null, estimatedBytes: null }));
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'qwen2:0.5b', task: 'chat', input: { messages: [{ role: 'user', content: 'hi' }] } } });
    expect(sub.status).toBe(202);
    await w.load('qwen2:0.5b');
    const done = await call(f.url, `/v1/jobs/${sub.json.id}?wait=10`);
    expect(done.json.status).toBe('succeeded');
    const events = await f.api.store.readEvents(sub.json.id);
    const progress = events.filter((e) => e.type === 'progress').map((e) => JSON.parse(e.data));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[0]).toMatchObject({ status: 'loading_model', model: 'qwen2:0.5b', worker: w.id });
    expect(progress.at(-1).pull).toMatchObject({ status: expect.any(String) });
    expect(progress.some((p) => p.pull.total === 352_000_000)).toBe(true);
  });
});
