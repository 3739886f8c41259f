import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OllamaEngine } from '../worker/engines/ollama/ollama-engine.ts';
import { call, log, startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { startFakeOllama } from './support/fake-ollama.ts';

let f: TestFabric;
let ollama: Ollama;
beforeAll(async () => {
  f = await startFabric();
  await f.addWorker({ tokensPerSecond: 0, embeddingLength: 5, models: [{ name: 'fake-small:latest', sizeBytes: 1e9 }, { name: 'nomic-embed-text:latest', sizeBytes: 3e8 }] }, { preload: ['fake-small:latest', 'nomic-embed-text:latest'] });
  ollama = new Ollama({ host: f.url });
  await waitFor(async () => (await call(f.url, '/api/ps')).json.models.length === 2);
});
afterAll(async () => f?.close());

describe('Ollama compatibility gaps', () => {
  it('answers the ollama client\'s embeddings() through the legacy /api/embeddings route, as a job', async () => {
    const one = await ollama.embeddings({ model: 'nomic-embed-text', prompt: 'the sky is blue' });
    expect(one.embedding).toHaveLength(5);
    const viaEmbed = await ollama.embed({ model: 'nomic-embed-text', input: 'the sky is blue' });
    expect(one.embedding).toEqual(viaEmbed.embeddings[0]);
    const raw = await call(f.url, '/api/embeddings', { body: { model: 'nomic-embed-text', prompt: 'x' } });
    const job = await call(f.url, `/v1/jobs/${raw.headers.get('x-fabric-job-id')}`);
    expect(job.json).toMatchObject({ task: 'embed', status: 'succeeded' });
    expect((await call(f.url, '/api/embeddings', { body: { model: 'nomic-embed-text', prompt: '' } })).json).toEqual({ embedding: [] });
    expect((await call(f.url, '/api/embeddings', { body: { model: 'missing', prompt: 'x' } })).status).toBe(404);
  });

  it('answers GET and HEAD / with "Ollama is running"', async () => {
    const get = await fetch(`${f.url}/`);
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('Ollama is running');
    const head = await fetch(`${f.url}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  it('lists embedding (not completion) as the capability of embedding models in /api/show', async () => {
    expect((await ollama.show({ model: 'nomic-embed-text' })).capabilities).toEqual(['embedding']);
    expect((await ollama.show({ model: 'fake-small' })).capabilities).toEqual(['completion']);
  });

  it('refuses tools on /api/chat with a clear 400 naming the engine that cannot serve them, instead of answering without them', async () => {
    const tools = [{ type: 'function', function: { name: 'weather', description: 'w', parameters: { type: 'object', properties: {} } } }];
    const err = await ollama.chat({ model: 'fake-small', messages: [{ role: 'user', content: 'hi' }], tools }).catch((e) => e);
    expect(err.status_code).toBe(400);
    expect(err.error).toMatch(/automatic tool choice .* fake engine/);
  });
});

describe('Ollama compatibility over the Ollama engine', () => {
  it('reports in /api/ps the context the server loaded (below the model\'s maximum), and embedding for a BERT model in /api/show', async () => {
    const fake = await startFakeOllama({ contextLength: 1024 });
    const g = await startFabric();
    try {
      await g.addWorker(new OllamaEngine({ url: fake.url, pollIntervalMs: 10 }, { logger: log }), { preload: ['tinyllama:latest'] });
      const ps = await waitFor(async () => (await call(g.url, '/api/ps')).json.models.find((m: any) => m.name === 'tinyllama:latest'));
      expect(ps.context_length).toBe(1024);
      const show = await call(g.url, '/api/show', { body: { model: 'tinyllama' } });
      expect(show.json.model_info['llama.context_length']).toBe(2048);
      expect(show.json.capabilities).toEqual(['completion']);
      expect((await call(g.url, '/api/show', { body: { model: 'all-minilm' } })).json.capabilities).toEqual(['embedding']);
    } finally {
      await g.close();
      await fake.stop();
    }
  });
});
