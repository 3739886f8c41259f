/**
 * The one service model every simulated policy runs against: how long a load takes, how fast a
 * resident model answers, how long a new GPU takes to join, and how much memory a model holds.
 *
 * All constants are estimates for a 24-80 GB datacenter/workstation GPU serving quantized GGUF
 * models (Ollama / llama.cpp); they are meant to rank policies fairly, not to predict a
 * particular card. Change them here (or through `serviceModel({...})`) and every policy moves
 * together.
 */

export interface ServiceModel {
  /**
   * Read speed of weights already in the host page cache (memory copy + PCIe upload).
   * Estimate: PCIe 4.0 x16 moves ~25 GB/s, but llama.cpp/Ollama loads measure 5-10 GB/s
   * from a warm cache once tensor setup is included.
   */
  readonly hostCacheBytesPerSec: number;
  /** Read speed from local NVMe. Estimate: a typical Gen4 NVMe sustains 2-3.5 GB/s; 2 GB/s used. */
  readonly diskBytesPerSec: number;
  /**
   * Host memory per host as a multiple of its GPUs' memory together (estimate: 2, a common ratio
   * for GPU servers). The page cache is an LRU of model files within it (sim/model/host-cache.ts).
   */
  readonly hostMemoryFactor: number;
  /** Fixed part of every load: runner start, context and KV allocation (estimate: 1.5 s). */
  readonly loadInitMs: number;
  /** GPU memory bandwidth in bytes/s (estimate: ~1 TB/s, an RTX 4090 / L40S class card). */
  readonly gpuBandwidthBytesPerSec: number;
  /** Share of bandwidth decode actually reaches (estimate: 0.6, typical of llama.cpp). */
  readonly decodeEfficiency: number;
  /** Dense fp16 tensor throughput in FLOP/s (estimate: ~160 TFLOP/s for the same class). */
  readonly gpuFlops: number;
  /** Share of FLOPs prefill reaches (estimate: 0.3 for quantized kernels). */
  readonly prefillEfficiency: number;
  /** Bytes per parameter of the weights on disk (estimate: 0.6 for Q4_K_M). */
  readonly bytesPerParam: number;
  /** A new GPU (node + worker + engine) is ready this long after a scale-up (estimate: 60 s). */
  readonly gpuStartMs: number;
  /** Footprint = size x this factor: KV cache for the slots plus runtime overhead (estimate: 1.2). */
  readonly footprintFactor: number;
  /** Parallel generations per resident replica (Ollama's OLLAMA_NUM_PARALLEL; 4 used for all). */
  readonly slotsPerReplica: number;
}

export const SERVICE_MODEL_DEFAULTS: ServiceModel = Object.freeze({
  hostCacheBytesPerSec: 8e9,
  diskBytesPerSec: 2e9,
  hostMemoryFactor: 2,
  loadInitMs: 1_500,
  gpuBandwidthBytesPerSec: 1e12,
  decodeEfficiency: 0.6,
  gpuFlops: 160e12,
  prefillEfficiency: 0.3,
  bytesPerParam: 0.6,
  gpuStartMs: 60_000,
  footprintFactor: 1.2,
  slotsPerReplica: 4,
});

/** Merges `input` over the defaults and validates that every constant is a positive number. */
export function serviceModel(input: Partial<ServiceModel> = {}): ServiceModel {
  const m: ServiceModel = { ...SERVICE_MODEL_DEFAULTS, ...input };
  for (const [k, v] of Object.entries(m)) {
    if (!Number.isFinite(v) || v < 0) throw new Error(`service model ${k} must be a finite number >= 0, got ${v}`);
  }
  if (m.slotsPerReplica < 1 || !Number.isInteger(m.slotsPerReplica)) throw new Error(`slotsPerReplica must be an integer >= 1`);
  return Object.freeze(m);
}

/** Milliseconds to load `sizeBytes` of weights, from the page cache or from disk, plus init. */
export function loadMs(m: ServiceModel, sizeBytes: number, fromCache: boolean): number {
  const rate = fromCache ? m.hostCacheBytesPerSec : m.diskBytesPerSec;
  return m.loadInitMs + (sizeBytes / rate) * 1000;
}

/** Decode is memory bound: every token streams all weights once, so tokens/s = bandwidth / size. */
export function decodeTokensPerSec(m: ServiceModel, sizeBytes: number): number {
  return (m.gpuBandwidthBytesPerSec * m.decodeEfficiency) / Math.max(sizeBytes, 1);
}

/** Prefill is compute bound: ~2 FLOPs per parameter per prompt token. */
export function prefillTokensPerSec(m: ServiceModel, sizeBytes: number): number {
  const params = Math.max(sizeBytes, 1) / m.bytesPerParam;
  return (m.gpuFlops * m.prefillEfficiency) / (2 * params);
}

export function prefillMs(m: ServiceModel, sizeBytes: number, promptTokens: number): number {
  return (promptTokens / prefillTokensPerSec(m, sizeBytes)) * 1000;
}

/** Time after the first token until the last: the remaining output tokens at decode speed. */
export function decodeMs(m: ServiceModel, sizeBytes: number, outputTokens: number): number {
  return (Math.max(outputTokens - 1, 0) / decodeTokensPerSec(m, sizeBytes)) * 1000;
}

/** Bytes of GPU memory a replica holds from the start of its load until its unload. */
export function footprintBytes(m: ServiceModel, sizeBytes: number): number {
  return Math.ceil(sizeBytes * m.footprintFactor);
}
