/**
 * The VRAM ledger: what a model will take before it loads (weights + KV cache + overhead, or
 * the footprint measured at its last load, which wins), whether that fits the memory free now
 * with headroom (measured footprints are kept in protocol/footprints.ts).
 */
import { DEFAULT_VRAM_HEADROOM, usableMemory } from '../protocol/vram-rule.js';
import type { FootprintEstimate } from './engines/engine.js';

export interface LedgerOptions {
  /** Share of total memory kept free: a load must fit in free - headroom x total. */
  headroomRatio: number;
}

export const LEDGER_DEFAULTS: LedgerOptions = { headroomRatio: DEFAULT_VRAM_HEADROOM };

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

export interface MemoryState {
  totalBytes: number;
  freeBytes: number;
  /** Where the numbers come from: the GPUs (NVML, nvidia-smi) or the configured capacity. */
  source: 'gpu' | 'configured';
}

export type LoadPlan =
  | { ok: true; needBytes: number; basis: 'measured' | 'estimated' }
  | { ok: false; needBytes: number; basis: 'measured' | 'estimated'; availableBytes: number; reason: string };

/** Pure: may a model needing `measured ?? estimated` bytes load into `memory` now? */
export function planLoad(model: string, need: { estimatedBytes: number; measuredBytes: number | null }, memory: MemoryState, opts: LedgerOptions): LoadPlan {
  const basis = need.measuredBytes !== null ? 'measured' : 'estimated';
  const needBytes = need.measuredBytes ?? need.estimatedBytes;
  const availableBytes = Math.max(0, usableMemory({ freeBytes: memory.freeBytes, reservedBytes: 0, capacityBytes: memory.totalBytes, headroomRatio: opts.headroomRatio }));
  if (needBytes <= availableBytes) return { ok: true, needBytes, basis };
  return {
    ok: false,
    needBytes,
    basis,
    availableBytes,
    reason: `${model} needs ${needBytes} bytes (${basis}) but only ${availableBytes} of ${memory.freeBytes} free bytes (${memory.source}) are usable with ${Math.round(opts.headroomRatio * 100)}% headroom`,
  };
}
