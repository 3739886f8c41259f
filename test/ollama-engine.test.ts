import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EngineError, type EngineErrorCode } from '../protocol/errors.ts';
import type { GenerateRequest } from '../worker/engines/port/engine.ts';
import { mapOllamaError } from '../worker/engines/ollama/errors.ts';
import { readNdjson } from '../worker/engines/ollama/ndjson.ts';
import { OllamaEngine, type PullProgress } from '../worker/engines/ollama/ollama-engine.ts';
import { call, log, startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { FAKE_JSON_TOKENS, FAKE_TOKENS, startFakeOllama, type FakeOllama, type FakeOllamaOptions } from './support/fake-ollama.ts';

const MODEL = 'tinyllama:latest';

async function* chunks(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p;
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const v of readNdjson(body)) out.push(v);
  return out;
}

/** The EngineError a promise rejects with. */
async function engineError(p: Promise<unknown>): Promise<EngineError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(EngineError);
  return err as EngineError;
}

describe('reading NDJSON', () => {
  it('reassembles a line split across reads at every byte offset, even inside a UTF-8 character', async () => {
    const bytes = Buffer.from('{"response":" ☀️ hé"}\n{"done":true}\n');
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(await collect(chunks(bytes.subarray(0, cut), bytes.subarray(cut)))).toEqual([{ response: ' ☀️ hé' }, { done: true }]);
    }
  });

  it('yields every line when several arrive in one read, skipping blank lines and a missing final newline', async () => {
    const values = await collect(chunks(Buffer.from('{"a":1}\n\n{"a":2}\r\n{"a":3}')));
    expect(values).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
  });

  it('rejects a malformed line as engine_error', async () => {
    const err = await engineError(collect(chunks(Buffer.from('{"a":1}\n{"a":\n'))));
    expect(err.code).toBe('engine_error');
  });
});

describe('mapOllamaError', () => {
  const cases: [string, number | null, string, EngineErrorCode, boolean][] = [
    ['404 unknown model', 404, 'model "x" not found, try pulling it first', 'model_not_found', false],
    ['pull of a model the registry lacks', 200, 'pull model manifest: file does not exist', 'model_not_found', false],
    ['503 queue full', 503, 'server busy, please try again.  maximum pending requests exceeded', 'engine_busy', true],
    ['busy wording on another status', 500, 'maximum pending requests exceeded', 'engine_busy', true],
    ['CUDA OOM', 500, 'llama runner process has terminated: CUDA error: out of memory', 'out_of_memory', true],
    ['cudaMalloc', 500, 'cudaMalloc failed: out of memory', 'out_of_memory', true],
    ['system memory check', 500, 'model requires more system memory (12.3 GiB) than is available (4.0 GiB)', 'out_of_memory', true],
    ['insufficient memory', 500, 'insufficient memory for KV cache', 'out_of_memory', true],
    ['OOM line mid-stream', 200, 'CUDA error: out of memory', 'out_of_memory', true],
    ['400 bad input', 400, 'invalid options: num_ctx', 'invalid_request', false],
    ['no answer: refused', null, 'fetch failed: ECONNREFUSED', 'engine_unavailable', true],
    ['no answer: anything', null, 'socket hang up', 'engine_unavailable', true],
    ['runner unreachable behind a 500', 500, 'dial tcp 127.0.0.1:45678: connect: connection refused', 'engine_unavailable', true],
    ['other 5xx', 500, 'unexpected EOF', 'engine_error', false],
    ['error line with no known wording', 200, 'something odd', 'engine_error', false],
  ];
  it.each(cases)('%s -> %s', (_name, status, message, code, retryable) => {
    const err = mapOllamaError(status, message);
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(retryable);
    expect(err.message).toContain(message);
  });
});

describe('the Ollama engine against a fake Ollama', () => {
  let fake: FakeOllama;
  let engine: OllamaEngine;
  async function setup(fakeOpts: Partial<FakeOllamaOptions> = {}, engineOpts: ConstructorParameters<typeof OllamaEngine>[0] = {}) {
    fake = await startFakeOllama(fakeOpts);
    engine = new OllamaEngine({ url: fake.url, pollIntervalMs: 10, ...engineOpts }, { logger: log });
  }
  afterEach(async () => {
    await engine?.close();
    await fake?.stop();
  });

  const gen = (over: Partial<GenerateRequest> = {}): GenerateRequest & { tokens: string[] } => {
    const tokens: string[] = [];
    return { model: MODEL, task: 'generate', prompt: 'why is the sky blue', options: {}, signal: new AbortController().signal, onToken: (t) => tokens.push(t), tokens, ...over };
  };
  const jobRequests = () => fake.requests.filter((r) => ['/api/generate', '/api/chat', '/api/embed'].includes(r.path) && r.body.keep_alive !== 0);

  it('lists the catalog from /api/tags with details and the context length from /api/show', async () => {
    await setup();
    const models = await engine.catalog();
    expect(models.find((m) => m.name === MODEL)).toMatchObject({ sizeBytes: 637_000_000, family: 'llama', parameterSize: '1.1B', quantization: 'Q4_0', contextLength: 2048 });
    expect(models.find((m) => m.name === 'all-minilm:latest')).toMatchObject({ family: 'bert', contextLength: 512 });
  });

  it('lists each model with the context the server loads it with, capped by the trained maximum it keeps beside', async () => {
    await setup({}, { contextSize: 1024 });
    const models = await engine.catalog();
    expect(models.find((m) => m.name === MODEL)).toMatchObject({ contextLength: 1024, trainedContextLength: 2048 });
    expect(models.find((m) => m.name === 'all-minilm:latest')).toMatchObject({ contextLength: 512, trainedContextLength: 512 });
  });

  it('loads with an empty prompt and keep_alive -1, timing the load and reading size and size_vram from /api/ps', async () => {
    await setup({ loadDelayMs: 120 });
    const res = await engine.load('tinyllama');
    expect(res).toMatchObject({ sizeBytes: 900_000_000, sizeVramBytes: 850_000_000 });
    expect(res.loadMs).toBeGreaterThanOrEqual(100);
    const load = fake.requests.find((r) => r.path === '/api/generate')!;
    expect(load.body).toEqual({ model: MODEL, keep_alive: -1, stream: false });
    expect(await engine.resident()).toEqual([{ name: MODEL, sizeBytes: 900_000_000, sizeVramBytes: 850_000_000 }]);
    const [running] = await engine.running();
    expect(new Date(running!.expiresAt!).getUTCFullYear()).toBeGreaterThan(2200);
  });

  it('unloads with keep_alive 0 and returns only once /api/ps no longer lists the model', async () => {
    await setup({ unloadDelayMs: 150 });
    await engine.load(MODEL);
    await engine.unload(MODEL);
    expect(fake.requests.filter((r) => r.body?.keep_alive === 0).map((r) => r.body)).toEqual([{ model: MODEL, keep_alive: 0, stream: false }]);
    expect(fake.residentNames()).toEqual([]);
    expect(await engine.resident()).toEqual([]);
  });

  it('streams generate tokens in order while each NDJSON line arrives split across reads at odd offsets', async () => {
    await setup({ chunking: 'split' });
    await engine.load(MODEL);
    const req = gen({ system: 'be brief' });
    const res = await engine.generate(req);
    expect(req.tokens).toEqual(FAKE_TOKENS);
    expect(res).toMatchObject({ text: FAKE_TOKENS.join(''), doneReason: 'stop', promptTokens: 7, completionTokens: FAKE_TOKENS.length });
    expect(res.evalMs).toBeGreaterThan(0);
    expect(res.promptEvalMs).toBe(7);
    expect(fake.requests.at(-1)!.body).toMatchObject({ prompt: 'why is the sky blue', system: 'be brief', stream: true });
  });

  it('parses several NDJSON lines arriving in one read', async () => {
    await setup({ chunking: 'burst' });
    const req = gen({ options: { num_predict: 4 } });
    const res = await engine.generate(req);
    expect(req.tokens).toEqual(FAKE_TOKENS.slice(0, 4));
    expect(res.doneReason).toBe('length');
  });

  it('streams a chat turn as message pieces and maps done_reason length', async () => {
    await setup();
    const req = gen({ task: 'chat', prompt: undefined, messages: [{ role: 'user', content: 'hello there' }], options: { num_predict: 3, temperature: 0 }, format: 'json' });
    const res = await engine.generate(req);
    expect(res).toMatchObject({ text: FAKE_JSON_TOKENS.slice(0, 3).join(''), doneReason: 'length', promptTokens: 2, completionTokens: 3 });
    expect(fake.requests.at(-1)).toMatchObject({ path: '/api/chat', body: { messages: [{ role: 'user', content: 'hello there' }], options: { num_predict: 3, temperature: 0 }, format: 'json', stream: true } });
  });

  it('sends keep_alive -1 on every job request: load, generate, chat and embed', async () => {
    await setup();
    await engine.load(MODEL);
    await engine.generate(gen());
    await engine.generate(gen({ task: 'chat', messages: [{ role: 'user', content: 'hi' }] }));
    await engine.embed({ model: 'all-minilm:latest', input: ['a'], signal: new AbortController().signal });
    expect(jobRequests().map((r) => r.path)).toEqual(['/api/generate', '/api/generate', '/api/chat', '/api/embed']);
    expect(jobRequests().every((r) => r.body.keep_alive === -1)).toBe(true);
  });

  it('turns an error line arriving mid-stream into a typed EngineError, after the tokens before it', async () => {
    await setup();
    await engine.load(MODEL);
    fake.failNextGeneration(MODEL, 'llama runner process has terminated: CUDA error: out of memory', 3);
    const req = gen();
    const err = await engineError(engine.generate(req));
    expect(err).toMatchObject({ code: 'out_of_memory', retryable: true });
    expect(req.tokens).toEqual(FAKE_TOKENS.slice(0, 3));
    fake.failNextGeneration(MODEL, 'unexpected server status: 1', 0);
    expect((await engineError(engine.generate(gen()))).code).toBe('engine_error');
  });

  it('fails a load that outlasts loadTimeoutMs as engine_unavailable, which is retryable', async () => {
    await setup({ loadDelayMs: 500 }, { loadTimeoutMs: 50 });
    expect(await engineError(engine.load(MODEL))).toMatchObject({ code: 'engine_unavailable', retryable: true });
  });

  it('maps a 404 for an unknown model to model_not_found, which is final', async () => {
    await setup();
    expect(await engineError(engine.load('nope:1b'))).toMatchObject({ code: 'model_not_found', retryable: false });
    expect((await engineError(engine.generate(gen({ model: 'nope:1b' })))).code).toBe('model_not_found');
  });

  it('maps 503 server busy to engine_busy, which is retryable, and serves once the queue has room', async () => {
    await setup();
    fake.busyFor(1);
    expect(await engineError(engine.generate(gen()))).toMatchObject({ code: 'engine_busy', retryable: true });
    expect((await engine.generate(gen())).text).toBe(FAKE_TOKENS.join(''));
  });

  it('maps a 500 out-of-memory on load to out_of_memory, retryable elsewhere, and leaves nothing resident', async () => {
    await setup();
    fake.failNextLoad(MODEL, 500, 'CUDA error: out of memory');
    expect(await engineError(engine.load(MODEL))).toMatchObject({ code: 'out_of_memory', retryable: true });
    expect(await engine.resident()).toEqual([]);
  });

  it('reports engine_unavailable when nothing listens at the URL, and healthy() says false', async () => {
    await setup();
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise((r) => probe.close(r));
    const down = new OllamaEngine({ url: `http://127.0.0.1:${port}` }, { logger: log });
    try {
      for (const attempt of [() => down.load(MODEL), () => down.resident(), () => down.generate(gen()), () => down.catalog()]) {
        expect(await engineError(attempt())).toMatchObject({ code: 'engine_unavailable', retryable: true });
      }
      expect(await down.healthy()).toBe(false);
      expect(await engine.healthy()).toBe(true);
    } finally {
      await down.close();
    }
  });

  it('aborting a generation closes the request, so the fake sees the client go away, and rejects with aborted', async () => {
    await setup({ tokenDelayMs: 40 });
    await engine.load(MODEL);
    const ac = new AbortController();
    const req = gen({ signal: ac.signal, onToken: () => ac.abort() });
    expect((await engineError(engine.generate(req))).code).toBe('aborted');
    const rec = fake.requests.at(-1)!;
    await waitFor(async () => rec.clientClosedEarly, 2_000);
    expect(rec.path).toBe('/api/generate');
  });

  it('the fake, like Ollama, cancels a load whose client disconnects (ollama#7408)', async () => {
    await setup({ loadDelayMs: 300 });
    const ac = new AbortController();
    const raw = fetch(`${fake.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: MODEL, keep_alive: -1 }), signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await raw.catch(() => undefined);
    await waitFor(async () => fake.requests[0]?.loadCanceled, 2_000);
    await sleep(350);
    expect(fake.residentNames()).toEqual([]);
  });

  it('a caller that stops waiting does not cancel the load: the request stays open and the model becomes resident', async () => {
    await setup({ loadDelayMs: 300 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    expect((await engineError(engine.load(MODEL, { signal: ac.signal }))).code).toBe('aborted');
    await waitFor(async () => (await engine.resident()).length === 1, 3_000);
    const load = fake.requests.find((r) => r.path === '/api/generate')!;
    expect(load).toMatchObject({ clientClosedEarly: false, loadCanceled: false, status: 200 });
    // A second caller joins the same load rather than starting another.
    expect((await engine.load(MODEL)).sizeBytes).toBe(900_000_000);
  });

  it('pulls a missing model on demand when pull is on, reporting progress, then loads it', async () => {
    await setup({ registry: [{ name: 'qwen2:0.5b', size: 352_000_000 }] }, { pull: true });
    const progress: PullProgress[] = [];
    const res = await engine.load('qwen2:0.5b', { onProgress: (p) => progress.push(p) });
    expect(res.sizeBytes).toBe(440_000_000);
    expect(progress[0]).toEqual({ status: 'pulling manifest' });
    expect(progress.filter((p) => p.total === 352_000_000).map((p) => p.completed)).toEqual([0, 176_000_000, 352_000_000]);
    expect(progress.at(-1)).toEqual({ status: 'success' });
    expect((await engine.catalog()).map((m) => m.name)).toContain('qwen2:0.5b');
    expect(fake.requests.find((r) => r.path === '/api/pull')!.body).toEqual({ model: 'qwen2:0.5b', stream: true });
  });

  it('fails a pull of a model the registry lacks as model_not_found, and does not pull when pull is off', async () => {
    await setup({}, { pull: true });
    expect((await engineError(engine.load('ghost:7b'))).code).toBe('model_not_found');
    const off = new OllamaEngine({ url: fake.url }, { logger: log });
    expect((await engineError(off.load('ghost:7b'))).code).toBe('model_not_found');
    await off.close();
    expect(fake.requests.filter((r) => r.path === '/api/pull')).toHaveLength(1);
  });

  it('embeds through /api/embed, returning one vector per input and the prompt token count', async () => {
    await setup();
    const res = await engine.embed({ model: 'all-minilm:latest', input: ['why is the sky blue', 'grass'], signal: new AbortController().signal });
    expect(res.embeddings).toHaveLength(2);
    expect(res.promptTokens).toBe(6);
  });

  it('reports configured capacity without GPU info, and GPU totals when a reader is given', async () => {
    await setup({}, { slotsPerModel: 4, memoryBytes: 8e9 });
    expect(await engine.capacity()).toEqual({ slotsPerModel: 4, memoryBytes: 8e9, gpus: [] });
    const gpu = { index: 0, uuid: 'GPU-1', name: 'H100', memoryTotalBytes: 80e9, memoryUsedBytes: 1e9, memoryFreeBytes: 79e9, utilization: 0.1 };
    const withGpu = new OllamaEngine({ url: fake.url, memoryBytes: 8e9 }, { logger: log, gpuReader: async () => [gpu] });
    expect(await withGpu.capacity()).toEqual({ slotsPerModel: 1, memoryBytes: 80e9, gpus: [gpu] });
    const broken = new OllamaEngine({ url: fake.url, memoryBytes: 8e9 }, { logger: log, gpuReader: async () => Promise.reject(new Error('no NVML')) });
    expect((await broken.capacity()).memoryBytes).toBe(8e9);
    await Promise.all([withGpu.close(), broken.close()]);
  });

  it('sees a model Ollama dropped on its own disappear from resident()', async () => {
    await setup();
    await engine.load(MODEL);
    fake.dropModel(MODEL);
    expect(await engine.resident()).toEqual([]);
  });

  it('refuses bad options at construction', () => {
    expect(() => new OllamaEngine({ url: 'localhost:11434' })).toThrow(/url/);
    expect(() => new OllamaEngine({ slotsPerModel: 0 })).toThrow(/slotsPerModel/);
  });
});

describe('the fabric with a worker on the Ollama engine', () => {
  let fake: FakeOllama;
  let f: TestFabric;
  beforeAll(async () => {
    fake = await startFakeOllama({ tokenDelayMs: 2 });
    f = await startFabric();
    await f.addWorker(new OllamaEngine({ url: fake.url, pollIntervalMs: 10 }, { logger: log }), { preload: [MODEL] });
  });
  afterAll(async () => {
    await f?.close();
    await fake?.stop();
  });

  it('runs a chat job via POST /v1/run and returns the fake Ollama tokens', async () => {
    const r = await call(f.url, '/v1/run', { body: { model: 'tinyllama', task: 'chat', input: { messages: [{ role: 'user', content: 'hi' }] } } });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: 'succeeded', worker: f.workers[0]!.id, output: { message: { role: 'assistant', content: FAKE_TOKENS.join('') } } });
    expect(r.json.usage).toEqual({ prompt_tokens: 1, completion_tokens: FAKE_TOKENS.length });
  });

  it('streams an Ollama-compatible /api/generate through the fabric', async () => {
    const res = await fetch(`${f.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'tinyllama', prompt: 'once upon', options: { num_predict: 5 } }) });
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ done: true, done_reason: 'length', eval_count: 5 });
    expect(lines.slice(0, -1).map((l) => l.response).join('')).toBe(FAKE_TOKENS.slice(0, 5).join(''));
    // The engine polls /api/ps meanwhile: read the generate request itself, not the latest one.
    expect(fake.requests.filter((q) => q.path === '/api/generate').at(-1)!.body).toMatchObject({ prompt: 'once upon', keep_alive: -1 });
  });

  it('stops consuming a model Ollama dropped on its own: /api/ps forgets it and a new job stays queued', async () => {
    fake.dropModel(MODEL);
    await waitFor(async () => (await call(f.url, '/api/ps')).json.models.length === 0, 5_000, 50);
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'tinyllama', task: 'chat', input: { messages: [{ role: 'user', content: 'after the drop' }] } } });
    expect(sub.status).toBe(202);
    await sleep(1_500);
    expect((await call(f.url, `/v1/jobs/${sub.json.id}`)).json.status).toBe('queued');
    expect(fake.requests.some((r) => JSON.stringify(r.body).includes('after the drop'))).toBe(false);
  });
});
