import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startFabric, type TestFabric } from './support/fabric.ts';
import { addDemoChatWorker, demoModelsDir, removeDir } from './support/llama-worker.ts';

let f: TestFabric;
let dir: string;
beforeAll(async () => {
  dir = await demoModelsDir();
  f = await startFabric();
  await addDemoChatWorker(f, dir, { contextSize: 512, slotsPerModel: 2 });
}, 60_000);
afterAll(async () => {
  await f?.close();
  removeDir(dir);
});

describe('the whole path with the real llama.cpp engine', () => {
  it('lists the generated GGUF demo models as the catalog', async () => {
    const tags = await call(f.url, '/api/tags');
    expect(tags.json.models.map((m: any) => m.name)).toEqual(expect.arrayContaining(['demo-chat:latest', 'demo-tiny:latest', 'demo-embed:latest']));
  });

  it('runs a chat job through the API, the queue and llama.cpp, producing num_predict tokens', async () => {
    const r = await call(f.url, '/v1/run', {
      body: { model: 'demo-chat', task: 'chat', input: { messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 12, seed: 1 } } },
    });
    expect(r.status).toBe(200);
    expect(r.json.status).toBe('succeeded');
    expect(r.json.usage.completion_tokens).toBe(12);
    expect(r.json.output.message.content.length).toBeGreaterThan(0);
    expect(r.json.worker).toBe(f.workers[0]!.id);
  });

  it('streams llama.cpp tokens through the Ollama generate route', async () => {
    const res = await fetch(`${f.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'demo-chat', prompt: 'once upon', options: { num_predict: 8, seed: 3 } }) });
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
    const last = lines.at(-1);
    expect(last.done).toBe(true);
    expect(last.eval_count).toBe(8);
    expect(lines.length).toBeGreaterThan(2);
  });
});
