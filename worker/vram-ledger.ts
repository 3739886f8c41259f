/**
 * The worker's VRAM ledger check: whether what a model will take (the footprint measured at its
 * last load, which wins, else the engine's estimate, engines/port/footprint-estimate.ts) fits the
 * memory free now with headroom, by the shared rule (protocol/vram-rule.ts).
 */
import { DEFAULT_VRAM_HEADROOM, usableMemory } from '../protocol/vram-rule.ts';

export interface LedgerOptions {
  /** Share of total memory kept free: a load must fit in free - headroom x total. */
  headroomRatio: number;
}

export const LEDGER_DEFAULTS: LedgerOptions = { headroomRatio: DEFAULT_VRAM_HEADROOM };

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
