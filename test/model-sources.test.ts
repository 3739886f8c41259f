import { mkdtemp, readdir, readFile, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../protocol/errors.ts';
import { ConfigError } from '../protocol/env.ts';
import { modelSourcesFromEnv, workerConfigFromEnv } from '../worker/config.ts';
import { createLogger } from '../protocol/logger.ts';
import { DEMO_MODELS, writeDemoModel } from '../worker/engines/llama-cpp/demo-models.ts';
import { LlamaCppEngine } from '../worker/engines/llama-cpp/llama-cpp-engine.ts';
import type { LlamaCppEngineOptions } from '../worker/engines/llama-cpp/engine-options.ts';
import { modelNameForFile } from '../worker/engines/llama-cpp/model-catalog.ts';
import { fileNameForModel } from '../worker/engines/llama-cpp/sources/file-names.ts';
import type { LoadProgress } from '../worker/engines/port/engine.ts';
import { sha256Of, startGgufServer, type GgufServer } from './support/gguf-server.ts';

const logger = createLogger('model-sources-test', 'silent');
let src: string;
let chat: Buffer;
let tiny: Buffer;
let server: GgufServer;
let dir: string;
let engine: LlamaCppEngine | undefined;

beforeAll(async () => {
  src = await mkdtemp(join(tmpdir(), 'model-sources-src-'));
  await writeDemoModel(join(src, 'chat.gguf'), DEMO_MODELS[0]!);
  await writeDemoModel(join(src, 'tiny.gguf'), DEMO_MODELS[1]!);
  chat = await readFile(join(src, 'chat.gguf'));
  tiny = await readFile(join(src, 'tiny.gguf'));
  server = await startGgufServer();
  server.put('/files/chat.gguf', chat);
  server.put('/files/tiny.gguf', tiny);
  server.putRepo('acme/demo-GGUF', { 'demo-F16.gguf': chat, 'demo-Q4_K_M.gguf': tiny });
});
afterAll(async () => {
  await server?.stop();
  await rm(src, { recursive: true, force: true });
});
afterEach(async () => {
  await engine?.close();
  engine = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function newEngine(opts: Partial<LlamaCppEngineOptions> = {}): Promise<LlamaCppEngine> {
  dir = await mkdtemp(join(tmpdir(), 'model-sources-'));
  engine = new LlamaCppEngine({ modelsDir: dir, threads: 1, contextSize: 256, slotsPerModel: 1, hfEndpoint: server.url, downloadRetryDelayMs: 10, ...opts }, { logger });
  return engine;
}

async function pullAll(e: LlamaCppEngine, model: string, extra: { url?: string; sha256?: string } = {}): Promise<LoadProgress[]> {
  const seen: LoadProgress[] = [];
  await e.pull(model, { onProgress: (p) => seen.push(p), ...extra });
  return seen;
}

describe('worker configuration of model sources', () => {
  it('reads FABRIC_MODEL_SOURCES, FABRIC_HF_ENDPOINT and FABRIC_DISK_CACHE_BYTES, refusing malformed entries', () => {
    const cfg = workerConfigFromEnv({ FABRIC_MODEL_SOURCES: 'mine=https://h/x.gguf#sha256=' + 'a'.repeat(64) + ', hf.co/o/r:Q8_0=http://h/y.gguf', FABRIC_HF_ENDPOINT: 'http://127.0.0.1:9', FABRIC_DISK_CACHE_BYTES: '2GiB' }).engine;
    expect(cfg.kind === 'llama-cpp' && [...cfg.modelSources.keys()]).toEqual(['mine:latest', 'hf.co/o/r:Q8_0']);
    expect(cfg.kind === 'llama-cpp' && [cfg.hfEndpoint, cfg.diskCacheBytes]).toEqual(['http://127.0.0.1:9', 2 * 1024 ** 3]);
    expect(workerConfigFromEnv({}).engine).toMatchObject({ diskCacheBytes: Infinity, hfEndpoint: 'https://huggingface.co' });
    expect(() => modelSourcesFromEnv({ FABRIC_MODEL_SOURCES: 'just-a-name' })).toThrow(/name=http\(s\):\/\/url/);
    expect(() => modelSourcesFromEnv({ FABRIC_MODEL_SOURCES: 'x=ftp://h/x.gguf' })).toThrow(ConfigError);
  });
});

describe('model file names', () => {
  it('maps names with slashes and tags to file names and back', () => {
    for (const m of ['hf.co/acme/demo-GGUF:Q4_K_M', 'demo-chat:latest', 'mine:v2']) expect(modelNameForFile(fileNameForModel(m))).toBe(m);
  });
});

describe('llama.cpp model sources', () => {
  it('pulls a declared URL into the models folder with Ollama statuses, verified by its sha256, and lists and loads it', async () => {
    const e = await newEngine({ modelSources: new Map([['web-chat:latest', `${server.url}/files/chat.gguf#sha256=${sha256Of(chat)}`]]) });
    // Declared but not on disk: listed already, sized by its source.
    expect((await e.catalog()).find((m) => m.name === 'web-chat:latest')?.sizeBytes).toBe(chat.length);
    const seen = await pullAll(e, 'web-chat');
    expect(seen[0]!.status).toBe('pulling manifest');
    const bytes = seen.filter((p) => p.status === `pulling ${sha256Of(chat).slice(0, 12)}`);
    expect(bytes.at(-1)).toMatchObject({ completed: chat.length, total: chat.length });
    expect(seen.map((p) => p.status)).toContain('verifying sha256 digest');
    expect(sha256Of(await readFile(join(dir, 'web-chat@latest.gguf')))).toBe(sha256Of(chat));
    expect((await e.catalog()).find((m) => m.name === 'web-chat:latest')?.family).toBe('llama');
    const loaded = await e.load('web-chat');
    expect(loaded.sizeBytes).toBeGreaterThan(0);
  });

  it('resumes a download whose connection was cut, with a Range request, and ends with the whole file', async () => {
    const e = await newEngine();
    server.cutAfter('/files/chat.gguf', 10_000);
    const before = server.requests.length;
    await pullAll(e, 'resumed', { url: `${server.url}/files/chat.gguf`, sha256: sha256Of(chat) });
    const mine = server.requests.slice(before).filter((r) => r.method === 'GET' && r.path === '/files/chat.gguf');
    expect(mine.map((r) => r.range)).toEqual([undefined, 'bytes=10000-']);
    expect(sha256Of(await readFile(join(dir, 'resumed@latest.gguf')))).toBe(sha256Of(chat));
    expect((await readdir(dir)).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('resumes a partial file left by an earlier worker run', async () => {
    const e = await newEngine();
    server.cutAfter('/files/tiny.gguf', 4_000);
    // One attempt only: the cut fails this pull and leaves the partial file.
    const once = new LlamaCppEngine({ modelsDir: dir, threads: 1, contextSize: 256, slotsPerModel: 1, downloadAttempts: 1 }, { logger });
    await expect(pullAll(once, 'later', { url: `${server.url}/files/tiny.gguf` })).rejects.toThrow(/connection ended|terminated|socket/i);
    await once.close();
    expect((await stat(join(dir, 'later@latest.gguf.partial'))).size).toBe(4_000);
    const before = server.requests.length;
    await pullAll(e, 'later', { url: `${server.url}/files/tiny.gguf`, sha256: sha256Of(tiny) });
    expect(server.requests.slice(before).filter((r) => r.method === 'GET').map((r) => r.range)).toEqual(['bytes=4000-']);
    expect(sha256Of(await readFile(join(dir, 'later@latest.gguf')))).toBe(sha256Of(tiny));
  });

  it('discards a download whose sha256 does not match and says so', async () => {
    const e = await newEngine();
    const wrong = sha256Of(Buffer.from('something else'));
    const err = await pullAll(e, 'bad', { url: `${server.url}/files/tiny.gguf`, sha256: wrong }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).message).toMatch(/checksum mismatch.*expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}/);
    expect((err as EngineError).retryable).toBe(false);
    expect(await readdir(dir)).toEqual([]);
  });

  it('resolves hf.co/org/repo:quant against the configured Hub endpoint, checked by the LFS sha256', async () => {
    const e = await newEngine();
    await pullAll(e, 'hf.co/acme/demo-GGUF:Q4_K_M');
    expect(await readdir(dir)).toEqual(['hf.co~acme~demo-GGUF@Q4_K_M.gguf']);
    expect(sha256Of(await readFile(join(dir, 'hf.co~acme~demo-GGUF@Q4_K_M.gguf')))).toBe(sha256Of(tiny));
    expect((await e.catalog()).map((m) => m.name)).toEqual(['hf.co/acme/demo-GGUF:Q4_K_M']);
  });

  it('refuses names no source knows with model_not_found and a message', async () => {
    const e = await newEngine();
    await expect(e.pull('nobody-has-this', { onProgress: () => undefined })).rejects.toMatchObject({ code: 'model_not_found', message: expect.stringMatching(/no source knows nobody-has-this:latest/) });
    await expect(e.pull('hf.co/acme/missing:Q8_0', { onProgress: () => undefined })).rejects.toMatchObject({ code: 'model_not_found', message: expect.stringMatching(/no repository acme\/missing/) });
    await expect(e.pull('hf.co/acme/demo-GGUF:Q2_K', { onProgress: () => undefined })).rejects.toMatchObject({ code: 'model_not_found', message: expect.stringMatching(/no GGUF file for Q2_K.*demo-F16.gguf/) });
  });

  it('keeps the folder within FABRIC_DISK_CACHE_BYTES, evicting the least recently used file that is not loaded', async () => {
    const e = await newEngine({ diskCacheBytes: chat.length + tiny.length + 100 });
    await pullAll(e, 'a', { url: `${server.url}/files/tiny.gguf` });
    await pullAll(e, 'b', { url: `${server.url}/files/tiny.gguf` });
    // `a` is loaded (in use) though used longest ago; `b` is the one to go.
    await e.load('a');
    await utimes(join(dir, 'a@latest.gguf'), new Date(1_000), new Date(1_000));
    await pullAll(e, 'c', { url: `${server.url}/files/chat.gguf` });
    expect((await readdir(dir)).sort()).toEqual(['a@latest.gguf', 'c@latest.gguf']);
    // Nothing left to evict: both files are needed (one loaded, the other just pulled and loaded).
    await e.load('c');
    await expect(pullAll(e, 'd', { url: `${server.url}/files/chat.gguf` })).rejects.toMatchObject({ code: 'insufficient_disk' });
  });
});
