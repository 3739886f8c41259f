import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OllamaEngine } from '../worker/engines/ollama/ollama-engine.ts';
import { shapeFromModelInfo } from '../worker/engines/ollama/catalog.ts';
import { startFakeOllama, type FakeOllama } from './support/fake-ollama.ts';
import { log } from './support/fabric.ts';

let ollama: FakeOllama;
beforeAll(async () => {
  ollama = await startFakeOllama();
});
afterAll(async () => ollama?.stop());

describe('Ollama footprint estimate', () => {
  it('reads layers and KV width from /api/show model_info', () => {
    expect(shapeFromModelInfo({ 'general.architecture': 'llama', 'llama.block_count': 32, 'llama.attention.head_count': 32, 'llama.attention.head_count_kv': 8, 'llama.embedding_length': 4096, 'llama.context_length': 131072 })).toEqual({
      layers: 32,
      kvWidth: 8 * 128,
      contextLength: 131072,
    });
    expect(shapeFromModelInfo({})).toEqual({ layers: undefined, kvWidth: undefined, contextLength: undefined });
  });

  it('estimates weights from /api/tags plus an f16 KV cache for every slot plus overhead', async () => {
    const engine = new OllamaEngine({ url: ollama.url, slotsPerModel: 2, contextSize: 4096, overheadBytes: 100 }, { logger: log });
    const e = await engine.estimateFootprint('tinyllama');
    // The fake's tinyllama: 22 layers, 8 KV heads x 128, context 2048 (below the 4096 asked for).
    const kv = 2 * 22 * 1024 * 2048 * 2 * 2;
    expect(e).toEqual({ weightsBytes: 637_000_000, kvCacheBytes: kv, overheadBytes: 100, totalBytes: 637_000_000 + kv + 100 });
    expect(await engine.estimateFootprint('missing:1b')).toBeUndefined();
    await engine.close();
  });
});
