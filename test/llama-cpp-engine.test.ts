import { copyFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../protocol/errors.ts';
import { createLogger } from '../protocol/logger.ts';
import type { GenerateRequest } from '../worker/engines/port/engine.ts';
import { DEMO_MODELS, ensureDemoModels, writeDemoModel } from '../worker/engines/llama-cpp/demo-models.ts';
import { StopSequenceBuffer } from '../worker/engines/llama-cpp/generation.ts';
import { gguf, writeGguf } from '../worker/engines/llama-cpp/gguf-writer.ts';
import { LlamaCppEngine } from '../worker/engines/llama-cpp/llama-cpp-engine.ts';
import { modelNameForFile } from '../worker/engines/llama-cpp/model-catalog.ts';

const logger = createLogger('llama-cpp-engine-test', 'silent');
let dir: string;
let engine: LlamaCppEngine;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llama-cpp-engine-'));
  await ensureDemoModels(dir);
  await copyFile(join(dir, 'demo-tiny.gguf'), join(dir, 'demo-tiny@v2.gguf'));
  engine = new LlamaCppEngine({ modelsDir: dir, threads: 1, contextSize: 512, slotsPerModel: 2 }, { logger });
});

afterAll(async () => {
  await engine?.close();
  await rm(dir, { recursive: true, force: true });
});

function request(overrides: Partial<GenerateRequest> & { onToken?: (t: string) => void } = {}): GenerateRequest {
  return {
    model: 'demo-chat',
    task: 'generate',
    prompt: 'The queue worker said',
    options: { num_predict: 16, seed: 7 },
    signal: new AbortController().signal,
    onToken: () => undefined,
    ...overrides,
  };
}

async function engineError(promise: Promise<unknown>): Promise<EngineError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EngineError);
  return err as EngineError;
}

describe('GGUF writer and demo models', () => {
  it('writes GGUF v3 that node-llama-cpp reads back with the same metadata and tensors', async () => {
    const path = join(dir, 'writer-check.bin');
    await writeGguf(path, {
      metadata: {
        'general.architecture': gguf.string('llama'),
        'test.u32': gguf.u32(42),
        'test.i32': gguf.i32(-7),
        'test.f32': gguf.f32(0.5),
        'test.bool': gguf.bool(true),
        'test.strings': gguf.strings(['a', 'ü', '']),
        'test.i32s': gguf.i32s([1, -2, 3]),
      },
      tensors: [
        { name: 'a', dims: [3, 2], type: 'f32', data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
        { name: 'b', dims: [5], type: 'f16', data: Float32Array.from([1, -1, 0.5, 0, 2]) },
      ],
    });
    const info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false });
    const m = info.metadata as unknown as { test: Record<string, unknown> };
    expect(info.version).toBe(3);
    expect(m.test).toEqual({ u32: 42, i32: -7, f32: 0.5, bool: true, strings: ['a', 'ü', ''], i32s: [1, -2, 3] });
    expect(info.tensorInfo?.map((t) => [t.name, t.dimensions.map(Number), t.ggmlType, Number(t.offset)])).toEqual([
      ['a', [3, 2], 0, 0],
      ['b', [5], 1, 32], // 24 bytes of F32 padded to the 32-byte alignment
    ]);
  });

  it('writes demo models whose header carries the spec, the vocabulary and a chat template', async () => {
    const spec = DEMO_MODELS.find((s) => s.name === 'demo-embed')!;
    const path = join(dir, 'spec-check.bin');
    const size = await writeDemoModel(path, spec);
    expect((await stat(path)).size).toBe(size);
    expect(size).toBeLessThan(10_000_000);
    const info = await readGgufFileInfo(path, { logWarnings: false });
    expect(info.metadata.general).toMatchObject({ architecture: 'llama', name: 'demo-embed', file_type: 0 });
    expect(info.architectureMetadata).toMatchObject({
      context_length: spec.contextLength,
      embedding_length: spec.embeddingLength,
      block_count: spec.layers,
      attention: { head_count: spec.heads, head_count_kv: spec.kvHeads },
    });
    const tokenizer = info.metadata.tokenizer as unknown as { ggml: { tokens: string[] }; chat_template: string };
    expect(tokenizer.ggml.tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    expect(tokenizer.chat_template).toContain('<|im_start|>');
  });

  it('maps file names to canonical model names', () => {
    expect(modelNameForFile('demo-chat.gguf')).toBe('demo-chat:latest');
    expect(modelNameForFile('demo-tiny@v2.gguf')).toBe('demo-tiny:v2');
    expect(modelNameForFile('notes.txt')).toBeUndefined();
    expect(modelNameForFile('bad name.gguf')).toBeUndefined();
  });
});

describe('StopSequenceBuffer', () => {
  it('holds back a partial stop match and releases it once the match fails', () => {
    const b = new StopSequenceBuffer(['STOP']);
    expect(b.push('abc ST')).toEqual({ release: 'abc ', stopped: false });
    expect(b.push('AR')).toEqual({ release: 'STAR', stopped: false });
    expect(b.push(' xSTO')).toEqual({ release: ' x', stopped: false });
    expect(b.push('P tail')).toEqual({ release: '', stopped: true });
    expect(b.output).toBe('abc STAR x');
    expect(b.hit).toBe('STOP');
  });

  it('cuts at the earliest of several stop sequences and flushes held text at the end', () => {
    const b = new StopSequenceBuffer(['zz', 'y']);
    expect(b.push('a z')).toEqual({ release: 'a ', stopped: false });
    expect(b.flush()).toBe('z');
    expect(b.hit).toBeUndefined();
    const c = new StopSequenceBuffer(['zz', 'y']);
    expect(c.push('q y zz')).toEqual({ release: 'q ', stopped: true });
    expect(c.hit).toBe('y');
  });
});

describe('LlamaCppEngine', () => {
  it('lists the .gguf files of its folder with metadata from their headers, each with the context it loads', async () => {
    const catalog = await engine.catalog();
    expect(catalog.map((m) => m.name)).toEqual(['demo-chat:latest', 'demo-embed:latest', 'demo-tiny:latest', 'demo-tiny:v2']);
    const chat = catalog.find((m) => m.name === 'demo-chat:latest')!;
    // The context it is loaded with (contextSize 512), beside the file's trained maximum.
    expect(chat).toMatchObject({ family: 'llama', quantization: 'F16', contextLength: 512, trainedContextLength: 2048 });
    expect(chat.sizeBytes).toBe((await stat(join(dir, 'demo-chat.gguf'))).size);
    expect(chat.parameterSize).toMatch(/^\d+\.\dK$/);
    expect(catalog.find((m) => m.name === 'demo-tiny:latest')?.quantization).toBe('F32');
  });

  it('loads a model, reports it resident, and loads it only once', async () => {
    const first = await engine.load('demo-chat');
    expect(first.sizeBytes).toBeGreaterThan(0);
    expect(first.sizeVramBytes).toBe(0);
    const again = await engine.load('demo-chat:latest');
    expect(again.loadMs).toBe(0);
    expect((await engine.resident()).map((m) => m.name)).toEqual(['demo-chat:latest']);
    expect(await engine.capacity()).toEqual({ slotsPerModel: 2, memoryBytes: engine.options.memoryBytes, gpus: [] });
  });

  it('streams tokens and generates exactly num_predict tokens when no stop sequence hits', async () => {
    const streamed: string[] = [];
    const result = await engine.generate(request({ options: { num_predict: 24, seed: 1 }, onToken: (t) => streamed.push(t) }));
    expect(result.doneReason).toBe('length');
    expect(result.completionTokens).toBe(24);
    expect(result.promptTokens).toBeGreaterThan(1);
    expect(streamed.length).toBeGreaterThan(1);
    expect(streamed.join('')).toBe(result.text);
    expect(result.text.trim().length).toBeGreaterThan(0);
    expect(result.promptEvalMs).toBeGreaterThanOrEqual(0);
    expect(result.evalMs).toBeGreaterThanOrEqual(0);
  });

  it('never ends a demo generation early: end-of-generation tokens are unreachable', async () => {
    for (const seed of [1, 2, 3]) {
      const result = await engine.generate(request({ options: { num_predict: 150, seed, temperature: 2, top_k: 0, top_p: 1 } }));
      expect(result).toMatchObject({ doneReason: 'length', completionTokens: 150 });
    }
  });

  it('ends early on a stop sequence that occurs in the output and leaves it out of the text', async () => {
    const options = { num_predict: 40, seed: 11 };
    const full = await engine.generate(request({ options }));
    const words = full.text.split(' ');
    const stop = ` ${words[Math.floor(words.length / 2)]}`;
    const cut = full.text.indexOf(stop);
    const streamed: string[] = [];
    const result = await engine.generate(request({ options: { ...options, stop: [stop] }, onToken: (t) => streamed.push(t) }));
    expect(result.doneReason).toBe('stop');
    expect(result.text).toBe(full.text.slice(0, cut));
    expect(streamed.join('')).toBe(result.text);
    expect(result.completionTokens).toBeLessThan(40);
  });

  it('chats through the model chat template', async () => {
    const messages = [
      { role: 'system' as const, content: 'You are a demo.' },
      { role: 'user' as const, content: 'The queue worker said' },
    ];
    const chat = await engine.generate(request({ task: 'chat', prompt: undefined, messages, options: { num_predict: 12, seed: 3 } }));
    const plain = await engine.generate(request({ options: { num_predict: 1 } }));
    expect(chat).toMatchObject({ doneReason: 'length', completionTokens: 12 });
    expect(chat.text).not.toContain('<|im_');
    // The ChatML rendering adds role headers and control tokens around the same words.
    expect(chat.promptTokens).toBeGreaterThan(plain.promptTokens + 8);
  });

  it('returns the log probability of each generated token, with the likeliest alternatives when asked', async () => {
    // top_p 1: the sampler keeps the top_k 5 candidates, so three alternatives are always there.
    const options = { num_predict: 20, seed: 4, top_k: 5, top_p: 1 };
    const plain = await engine.generate(request({ options }));
    const withTop = await engine.generate(request({ options, logprobs: { top: 3 } }));
    const chosenOnly = await engine.generate(request({ options, logprobs: { top: 0 } }));
    // Asking for logprobs does not change what is sampled.
    expect(withTop.text).toBe(plain.text);
    expect(chosenOnly.text).toBe(plain.text);
    expect(plain.logprobs).toBeUndefined();
    for (const r of [withTop, chosenOnly]) {
      expect(r.logprobs).toHaveLength(20);
      expect(r.logprobs!.map((l) => l.token).join('')).toBe(r.text);
    }
    expect(chosenOnly.logprobs!.every((l) => l.top_logprobs === undefined)).toBe(true);
    withTop.logprobs!.forEach((l, i) => {
      expect(l.logprob).toBeLessThanOrEqual(0);
      expect(l.logprob).toBeCloseTo(chosenOnly.logprobs![i]!.logprob, 4);
      const top = l.top_logprobs!;
      expect(top).toHaveLength(3);
      expect(top.map((t) => t.logprob)).toEqual([...top.map((t) => t.logprob)].sort((a, b) => b - a));
      // top_k 5 keeps five candidates: the chosen one is among them, at most as likely as the first.
      expect(l.logprob).toBeLessThanOrEqual(top[0]!.logprob + 1e-6);
    });
    const sum = withTop.logprobs!.map((l) => l.top_logprobs!.reduce((s, t) => s + Math.exp(t.logprob), 0));
    expect(Math.max(...sum)).toBeLessThanOrEqual(1 + 1e-4);
    // With Ollama's default top_p 0.9 fewer candidates may be left than asked for.
    const narrow = await engine.generate(request({ options: { num_predict: 20, seed: 4 }, logprobs: { top: 20 } }));
    expect(narrow.logprobs!.every((l) => l.top_logprobs!.length >= 1 && l.top_logprobs!.length <= 20)).toBe(true);
  });

  it('cuts logprobs with the text at a stop sequence', async () => {
    const options = { num_predict: 30, seed: 11 };
    const full = await engine.generate(request({ options }));
    const words = full.text.split(' ');
    const stop = ` ${words[Math.floor(words.length / 2)]}`;
    const cut = await engine.generate(request({ options: { ...options, stop: [stop] }, logprobs: { top: 0 } }));
    expect(cut.doneReason).toBe('stop');
    expect(cut.logprobs!.map((l) => l.token).join('')).toBe(cut.text);
  });

  it('counts the tool documentation of an auto-tools chat against the context', async () => {
    const tools = [{ name: 'lookup', description: 'Look up a record', parameters: { type: 'object', properties: { id: { type: 'integer' } } } }];
    const messages = [{ role: 'user' as const, content: 'Look up 7' }];
    const err = await engineError(engine.generate(request({ task: 'chat', prompt: undefined, messages, tools })));
    expect(err.code).toBe('context_length_exceeded');
    expect(err.message).toMatch(/tools included.*context of 512/);
  });

  it('constrains the output to a JSON schema given as format, ending when the JSON is complete', async () => {
    const format = { type: 'object', properties: { ok: { type: 'boolean' }, size: { enum: [1, 2, 3] } }, required: ['ok', 'size'] };
    const result = await engine.generate(request({ format, options: { num_predict: 64, seed: 5 } }));
    expect(result.doneReason).toBe('stop');
    expect(JSON.parse(result.text)).toMatchObject({ ok: expect.any(Boolean), size: expect.any(Number) });
  });

  it('rejects with code aborted when the signal aborts, and frees the slot', async () => {
    const controller = new AbortController();
    let seen = 0;
    const err = await engineError(
      engine.generate(request({
        options: { num_predict: 400 },
        signal: controller.signal,
        onToken: () => {
          if (++seen === 3) controller.abort();
        },
      })),
    );
    expect(err.code).toBe('aborted');
    const after = await Promise.all([engine.generate(request()), engine.generate(request())]);
    expect(after.map((r) => r.completionTokens)).toEqual([16, 16]);
  });

  it('gives each concurrent generation its own slot and answers engine_busy when all are taken', async () => {
    const controller = new AbortController();
    const long = () => engine.generate(request({ options: { num_predict: 400 }, signal: controller.signal }));
    const running = [long(), long()];
    const err = await engineError(engine.generate(request()));
    expect(err.code).toBe('engine_busy');
    expect(err.retryable).toBe(true);
    controller.abort();
    for (const r of running) expect((await engineError(r)).code).toBe('aborted');
  });

  it('embeds each input as a unit vector of the embedding length', async () => {
    await engine.load('demo-embed');
    const result = await engine.embed({ model: 'demo-embed', input: ['the queue', 'a worker'], signal: new AbortController().signal });
    expect(result.embeddings).toHaveLength(2);
    for (const v of result.embeddings) {
      expect(v).toHaveLength(64);
      expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    }
    expect(result.embeddings[0]).not.toEqual(result.embeddings[1]);
    expect(result.promptTokens).toBeGreaterThan(2);
  });

  it('answers model_not_found for a model it does not have or has not loaded', async () => {
    expect((await engineError(engine.load('no-such-model'))).code).toBe('model_not_found');
    expect((await engineError(engine.generate(request({ model: 'no-such-model' })))).code).toBe('model_not_found');
    expect((await engineError(engine.generate(request({ model: 'demo-tiny:v2' })))).code).toBe('model_not_found');
    const embed = engine.embed({ model: 'nope', input: ['x'], signal: new AbortController().signal });
    expect((await engineError(embed)).code).toBe('model_not_found');
  });

  it('unloads a model: it leaves resident and its generations fail', async () => {
    await engine.load('demo-tiny:v2');
    expect((await engine.resident()).map((m) => m.name)).toContain('demo-tiny:v2');
    await engine.unload('demo-tiny:v2');
    await engine.unload('demo-tiny:v2'); // idempotent
    expect((await engine.resident()).map((m) => m.name)).not.toContain('demo-tiny:v2');
    expect((await engineError(engine.generate(request({ model: 'demo-tiny:v2' })))).code).toBe('model_not_found');
  });

  it('refuses a load that would overrun memoryBytes with out_of_memory', async () => {
    const small = new LlamaCppEngine({ modelsDir: dir, memoryBytes: 100_000 }, { logger });
    try {
      const err = await engineError(small.load('demo-chat'));
      expect(err.code).toBe('out_of_memory');
      expect(await small.resident()).toEqual([]);
    } finally {
      await small.close();
    }
  });
});
