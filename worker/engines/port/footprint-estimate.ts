/** What a model will take on an engine before it loads: weights + KV cache + overhead. */
import type { FootprintEstimate } from './engine.ts';

/** Weights + f16 KV cache (2 x layers x kv width x context x slots x 2 bytes) + overhead. */
export function estimateFootprint(i: {
  weightsBytes: number;
  layers: number;
  kvWidth: number;
  contextSize: number;
  slots: number;
  /** Compute buffers and runtime context (CUDA context on a GPU). */
  overheadBytes: number;
  kvBytesPerElement?: number;
}): FootprintEstimate {
  const kvCacheBytes = 2 * i.layers * i.kvWidth * i.contextSize * i.slots * (i.kvBytesPerElement ?? 2);
  return { weightsBytes: i.weightsBytes, kvCacheBytes, overheadBytes: i.overheadBytes, totalBytes: i.weightsBytes + kvCacheBytes + i.overheadBytes };
}
