/** The llama.cpp engine's options, their defaults and their one check. */
import { totalmem } from 'node:os';
import { DEFAULT_NVML_LIBRARY } from '../../gpu/nvml.ts';
import { checkBounds } from '../../../protocol/options-check.ts';
import { FETCHER_DEFAULTS } from './sources/model-fetcher.ts';

export interface LlamaCppEngineOptions {
  /** Folder of `.gguf` files; `name@tag.gguf` serves as `name:tag`. */
  modelsDir: string;
  /** CPU threads per evaluation. More than the free cores makes llama.cpp spin and crawl. */
  threads: number;
  /** Tokens per slot; capped at the model's trained context length. */
  contextSize: number;
  slotsPerModel: number;
  /** Memory the engine may fill with models (weights + KV caches). */
  memoryBytes: number;
  gpu: false | 'auto';
  /** NVML library, to check that the CUDA backend can run on the GPU (gpu-backend.ts). */
  nvmlLibrary: string;
  /** Models downloadable by name: canonical name -> URL, `#sha256=<hex>` optional (FABRIC_MODEL_SOURCES). */
  modelSources: ReadonlyMap<string, string>;
  /** Hugging Face Hub API base that `hf.co/org/repo:quant` names resolve against (FABRIC_HF_ENDPOINT). */
  hfEndpoint: string;
  /** Bytes the models folder may hold; least recently used files not loaded are evicted (FABRIC_DISK_CACHE_BYTES). */
  diskCacheBytes: number;
  /** Connection attempts per download, each resuming where the last stopped (HTTP Range). */
  downloadAttempts: number;
  downloadRetryDelayMs: number;
}

/**
 * Measured on a 2-core box with other work running: 400 tokens of demo-chat took ~0.4 s at
 * 1 thread and ~10-13 s at 2 (llama.cpp's threads busy-wait for each other), hence 1.
 */
export const LLAMA_CPP_DEFAULTS: LlamaCppEngineOptions = {
  modelsDir: './models',
  threads: 1,
  contextSize: 2048,
  slotsPerModel: 2,
  memoryBytes: Math.floor(totalmem() / 2),
  gpu: false,
  nvmlLibrary: DEFAULT_NVML_LIBRARY,
  modelSources: new Map(),
  hfEndpoint: FETCHER_DEFAULTS.hfEndpoint,
  diskCacheBytes: FETCHER_DEFAULTS.diskCacheBytes,
  downloadAttempts: FETCHER_DEFAULTS.attempts,
  downloadRetryDelayMs: FETCHER_DEFAULTS.retryDelayMs,
};

/** Defaults merged and checked once, so a bad setting fails at start, not at first load. */
export function resolveLlamaCppOptions(opts: Partial<LlamaCppEngineOptions> = {}): LlamaCppEngineOptions {
  const o = { ...LLAMA_CPP_DEFAULTS, ...opts };
  checkBounds('llama-cpp engine', o, {
    threads: { min: 1, int: true, env: 'FABRIC_LLAMA_THREADS' },
    contextSize: { min: 1, int: true },
    slotsPerModel: { min: 1, int: true, env: 'FABRIC_SLOTS' },
    memoryBytes: { min: 0, gt: true, infinite: true, env: 'FABRIC_VRAM_BYTES' },
    diskCacheBytes: { min: 0, gt: true, infinite: true, env: 'FABRIC_DISK_CACHE_BYTES' },
    downloadAttempts: { min: 1, int: true },
    downloadRetryDelayMs: { min: 0 },
  });
  if (o.gpu !== false && o.gpu !== 'auto') throw new Error(`llama-cpp engine: gpu must be false or 'auto'`);
  if (!o.modelsDir) throw new Error('llama-cpp engine: modelsDir is required');
  return o;
}
