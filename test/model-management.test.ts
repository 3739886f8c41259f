import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_MODELS, ensureDemoModels, writeDemoModel } from '../worker/engines/llama-cpp/demo-models.ts';
import { LlamaCppEngine } from '../worker/engines/llama-cpp/llama-cpp-engine.ts';
import { OllamaEngine } from '../worker/engines/ollama/ollama-engine.ts';
import type { WorkerNode } from '../worker/worker-node.ts';
import { startFakeOllama, type FakeOllama } from './support/fake-ollama.ts';
import { call, log, startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { sha256Of, startGgufServer, type GgufServer } from './support/gguf-server.ts';

const HF = 'hf.co/acme/demo-GGUF:Q4_K_M';
let f: TestFabric;
let server: GgufServer;
let dirs: string[] = [];
let workers: WorkerNode[] = [];
let ollama: Ollama;
let chat: Buffer;
let tiny: Buffer;

async function llamaWorker(sources: Map<string, string> = new Map(), preload: string[] = []): Promise<WorkerNode> {
  const dir = await mkdtemp(join(tmpdir(), 'model-mgmt-'));
  dirs.push(dir);
  await ensureDemoModels(dir, [DEMO_MODELS[0]!]);
  return f.addWorker(new LlamaCppEngine({ modelsDir: dir, threads: 1, contextSize: 512, slotsPerModel: 1, hfEndpoint: server.url, modelSources: sources, downloadRetryDelayMs: 10 }, { logger: log }), { preload });
}

beforeAll(async () => {
  const src = await mkdtemp(join(tmpdir(), 'model-mgmt-src-'));
  await writeDemoModel(join(src, 'chat.gguf'), DEMO_MODELS[0]!);
  await writeDemoModel(join(src, 'tiny.gguf'), DEMO_MODELS[1]!);
  chat = await readFile(join(src, 'chat.gguf'));
  tiny = await readFile(join(src, 'tiny.gguf'));
  await rm(src, { recursive: true, force: true });
  server = await startGgufServer();
  server.putRepo('acme/demo-GGUF', { 'demo-Q4_K_M.gguf': tiny, 'demo-F16.gguf': chat });
  server.put('/files/chat.gguf', chat);
  f = await startFabric();
  workers = [await llamaWorker(new Map([['web-chat:latest', `${server.url}/files/chat.gguf#sha256=${sha256Of(chat)}`]]), ['demo-chat:latest']), await llamaWorker()];
  ollama = new Ollama({ host: f.url });
});
afterAll(async () => {
  await f?.close();
  await server?.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const onDisk = async (file: string) => (await Promise.all(dirs.map(async (d) => (await readdir(d)).includes(file)))).filter(Boolean).length;
const names = async () => (await ollama.list()).models.map((m) => m.name);

describe('Ollama model management through the fleet', () => {
  it('pulls an hf.co name with the ollama client: progress statuses with bytes, ending in success, then lists and serves it', async () => {
    const seen: { status: string; completed?: number; total?: number }[] = [];
    for await (const p of await ollama.pull({ model: HF, stream: true })) seen.push(p);
    expect(seen.at(-1)).toEqual({ status: 'success' });
    expect(seen[0]!.status).toBe('pulling manifest');
    expect(seen.some((p) => p.total === tiny.length && p.completed === tiny.length)).toBe(true);
    expect(await onDisk('hf.co~acme~demo-GGUF@Q4_K_M.gguf')).toBe(1);
    expect(await names()).toContain(HF);
    // A pull of a model already there answers success again without downloading.
    const gets = server.requests.filter((r) => r.method === 'GET' && r.path.endsWith('demo-Q4_K_M.gguf')).length;
    expect(await ollama.pull({ model: HF, stream: false })).toEqual({ status: 'success' });
    expect(server.requests.filter((r) => r.method === 'GET' && r.path.endsWith('demo-Q4_K_M.gguf')).length).toBe(gets);
  });

  it('pulls to every running worker with workers: all', async () => {
    const r = await call(f.url, '/api/pull?workers=all', { body: { model: 'hf.co/acme/demo-GGUF:F16', stream: false } });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: 'success' });
    expect(await onDisk('hf.co~acme~demo-GGUF@F16.gguf')).toBe(2);
  });

  it('answers success to a pull of a model already in the folder that no source knows (the demo models)', async () => {
    expect(await ollama.pull({ model: 'demo-chat', stream: false })).toEqual({ status: 'success' });
  });

  it('answers a pull of a name no source knows with a 404 and a message', async () => {
    const err = await ollama.pull({ model: 'nobody/knows-this' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status_code: 404, error: expect.stringMatching(/no source knows nobody\/knows-this:latest/) });
    const hf = await call(f.url, '/api/pull', { body: { model: 'hf.co/acme/gone:Q4_K_M' } });
    expect(hf.status).toBe(404);
    expect(hf.json.error).toMatch(/no repository acme\/gone/);
  });

  it('copies a model to an alias that lists with its parent and runs jobs on the base', async () => {
    await ollama.copy({ source: 'demo-chat', destination: 'my-chat' });
    const entry = (await ollama.list()).models.find((m) => m.name === 'my-chat:latest');
    expect(entry?.details.parent_model).toBe('demo-chat:latest');
    const r = await call(f.url, '/api/generate', { body: { model: 'my-chat', prompt: 'hi', stream: false, options: { num_predict: 3 } } });
    expect(r.status).toBe(200);
    expect(r.json.model).toBe('my-chat:latest');
    const job = await call(f.url, `/v1/jobs/${r.headers.get('x-fabric-job-id')}`);
    expect(job.json.model).toBe('demo-chat:latest');
    // OpenAI clients see it too: in the list and by id, naming its base.
    const list = await call(f.url, '/v1/models');
    expect(list.json.data.find((m: { id: string }) => m.id === 'my-chat:latest')).toMatchObject({ parent_model: 'demo-chat:latest', engine: 'llama-cpp' });
    expect(list.json.data.find((m: { id: string }) => m.id === 'demo-chat:latest')).toMatchObject({ parent_model: null });
    const one = await call(f.url, '/v1/models/my-chat');
    expect(one.json).toMatchObject({ id: 'my-chat:latest', object: 'model', parent_model: 'demo-chat:latest' });
    const missing = await ollama.copy({ source: 'not-here', destination: 'x' }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ status_code: 404 });
  });

  it('creates a derived model whose jobs run on the base with its system prompt and parameters', async () => {
    const done = await ollama.create({ model: 'terse', from: 'my-chat', system: 'Answer in one word.', parameters: { num_predict: 2, temperature: 0 } });
    expect(done.status).toBe('success');
    const shown = await ollama.show({ model: 'terse' });
    expect(shown.details.parent_model).toBe('demo-chat:latest');
    const r = await call(f.url, '/api/chat', { body: { model: 'terse', messages: [{ role: 'user', content: 'hello' }], stream: false } });
    expect(r.status).toBe(200);
    expect(r.json.eval_count).toBe(2);
    const job = await call(f.url, `/v1/jobs/${r.headers.get('x-fabric-job-id')}`);
    expect(job.json.input.messages[0]).toEqual({ role: 'system', content: 'Answer in one word.' });
    expect(job.json.input.options).toMatchObject({ num_predict: 2, temperature: 0 });
  });

  it('refuses what a derived model cannot be, each with a 400 that says why', async () => {
    const cases = [
      [{ model: 'a', from: 'demo-chat', adapters: { 'lora.gguf': 'sha256:00' } }, /adapters are not supported by the llama-cpp engine/],
      [{ model: 'a', from: 'demo-chat', template: '{{ .Prompt }}' }, /template is not supported by the llama-cpp engine/],
      [{ model: 'a', files: { 'x.gguf': 'sha256:00' } }, /from files is not supported/],
      [{ model: 'a' }, /create needs `from`/],
      [{ model: 'a', from: 'demo-chat', parameters: { temperature: 'hot' } }, /parameters: temperature/],
    ] as const;
    for (const [body, message] of cases) {
      const r = await call(f.url, '/api/create', { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.error).toMatch(message);
    }
    expect((await call(f.url, '/api/create', { body: { model: 'demo-chat', from: 'my-chat' } })).status).toBe(409);
  });

  it('deletes aliases, refuses to delete a base its aliases use, and deletes a model: queued jobs failed, files gone', async () => {
    await ollama.delete({ model: 'terse' });
    await ollama.delete({ model: 'my-chat' });
    expect(await names()).not.toContain('my-chat:latest');
    await ollama.copy({ source: HF, destination: 'small' });
    const refused = await ollama.delete({ model: HF }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status_code: 409, error: expect.stringMatching(/base of small:latest/) });
    await ollama.delete({ model: 'small' });
    // No worker holds it loaded (nothing asked for a load): the job waits queued until the delete.
    const sub = await call(f.url, '/v1/jobs', { body: { model: HF, task: 'generate', input: { prompt: 'x' } } });
    expect(sub.status).toBe(202);
    await ollama.delete({ model: HF });
    const failed = await call(f.url, `/v1/jobs/${sub.json.id}`);
    expect(failed.json.status).toBe('failed');
    expect(failed.json.error).toMatchObject({ code: 'model_deleted', message: `model ${HF} was deleted` });
    await waitFor(async () => (await onDisk('hf.co~acme~demo-GGUF@Q4_K_M.gguf')) === 0);
    expect(await names()).not.toContain(HF);
    expect((await call(f.url, '/api/generate', { body: { model: HF, prompt: 'x' } })).status).toBe(404);
    const again = await ollama.delete({ model: HF }).catch((e: unknown) => e);
    expect(again).toMatchObject({ status_code: 404 });
  });

  it('lets a running job finish before a deleted model is unloaded and removed', async () => {
    const w = workers[1]!;
    await w.load('hf.co/acme/demo-GGUF:F16');
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'hf.co/acme/demo-GGUF:F16', task: 'generate', input: { prompt: 'x', options: { num_predict: 400 } } } });
    await waitFor(async () => (await call(f.url, `/v1/jobs/${sub.json.id}`)).json.status === 'running', 10_000, 5);
    const del = await call(f.url, '/api/delete', { method: 'DELETE', body: { model: 'hf.co/acme/demo-GGUF:F16' } });
    expect(del.status).toBe(200);
    const done = await call(f.url, `/v1/jobs/${sub.json.id}?wait=20`);
    expect(done.json.status).toBe('succeeded');
    expect(done.json.usage.completion_tokens).toBeGreaterThan(0);
    await waitFor(async () => (await onDisk('hf.co~acme~demo-GGUF@F16.gguf')) === 0);
    await waitFor(async () => !w.heartbeat().resident.some((m) => m.model === 'hf.co/acme/demo-GGUF:F16'));
  });

  it('lists a declared source before any disk holds it; its job waits in loading_model with download progress', async () => {
    const listed = (await ollama.list()).models.find((m) => m.name === 'web-chat:latest');
    expect(listed?.size).toBe(chat.length);
    server.throttle('/files/chat.gguf', 64 * 1024, 150);
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'web-chat', task: 'generate', input: { prompt: 'x', options: { num_predict: 2 } } } });
    const load = workers[0]!.load('web-chat:latest');
    const loading = await waitFor(async () => {
      const r = await call(f.url, `/v1/jobs/${sub.json.id}`);
      return r.json.status === 'loading_model' ? r : null;
    }, 10_000, 5);
    expect(loading.json.status).toBe('loading_model');
    await load;
    const done = await call(f.url, `/v1/jobs/${sub.json.id}?wait=10`);
    expect(done.json.status).toBe('succeeded');
    const progress = (await f.api.store.readEvents(sub.json.id)).filter((e) => e.type === 'progress').map((e) => JSON.parse(e.data));
    expect(progress[0]).toMatchObject({ status: 'loading_model', model: 'web-chat:latest' });
    expect(progress.some((p) => p.pull.total === chat.length && p.pull.completed === chat.length)).toBe(true);
  });
});

describe('model management rights', () => {
  let g: TestFabric;
  beforeAll(async () => {
    g = await startFabric({ apiKeys: new Map([['tenant-key', 'acme']]), adminKey: 'admin-key' });
  });
  afterAll(async () => g?.close());

  it('needs the admin key to pull, copy, create or delete; a tenant still lists models', async () => {
    const tenant = { authorization: 'Bearer tenant-key' };
    for (const [method, path, body] of [['POST', '/api/pull', { model: 'x' }], ['POST', '/api/copy', { source: 'a', destination: 'b' }], ['POST', '/api/create', { model: 'a', from: 'b' }], ['DELETE', '/api/delete', { model: 'x' }]] as const) {
      const r = await call(g.url, path, { method, body, headers: tenant });
      expect(r.status, path).toBe(403);
      expect(r.json).toEqual({ error: 'not an admin key' });
    }
    expect((await call(g.url, '/api/tags', { headers: tenant })).status).toBe(200);
    const admin = await call(g.url, '/api/copy', { body: { source: 'a', destination: 'b' }, headers: { authorization: 'Bearer admin-key' } });
    expect(admin.status).toBe(404);
    expect(admin.json).toEqual({ error: "model 'a:latest' not found" });
  });
});

describe('model management on the Ollama engine', () => {
  let g: TestFabric;
  let server: FakeOllama;
  beforeAll(async () => {
    server = await startFakeOllama({ registry: [{ name: 'qwen2:0.5b', size: 352_000_000 }] });
    g = await startFabric();
    await g.addWorker(new OllamaEngine({ url: server.url }, { logger: log }));
  });
  afterAll(async () => {
    await g?.close();
    await server?.stop();
  });

  it("pulls with Ollama's own pull, lists the model, and deletes it from the server", async () => {
    const client = new Ollama({ host: g.url });
    const seen: { status: string }[] = [];
    for await (const p of await client.pull({ model: 'qwen2:0.5b', stream: true })) seen.push(p);
    expect(seen.map((p) => p.status)).toContain('verifying sha256 digest');
    expect(seen.at(-1)).toEqual({ status: 'success' });
    expect((await client.list()).models.map((m) => m.name)).toContain('qwen2:0.5b');
    const unknown = await client.pull({ model: 'no-such-model' }).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ status_code: 404, error: expect.stringMatching(/file does not exist/) });
    await client.delete({ model: 'qwen2:0.5b' });
    await waitFor(async () => server.requests.some((r) => r.method === 'DELETE' && r.path === '/api/delete'));
    expect((await client.list()).models.map((m) => m.name)).not.toContain('qwen2:0.5b');
  });
});
