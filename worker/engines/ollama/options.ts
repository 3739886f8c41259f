/** The Ollama engine's options: one type, defaults in one place, checked once at construction. */
import { totalmem } from 'node:os';
import { checkBounds } from '../../../protocol/options-check.ts';

export interface OllamaEngineOptions {
  /** Base URL of the Ollama server (OLLAMA_URL). */
  url: string;
  /** Parallel generations per loaded model; set it to the server's OLLAMA_NUM_PARALLEL. */
  slotsPerModel: number;
  /** Memory the engine may fill with models, used when no GPU reader reports real totals. */
  memoryBytes: number;
  /** Pull a model from the registry when a load finds it missing (FABRIC_OLLAMA_PULL). */
  pull: boolean;
  /** Limit for short calls: /api/tags, /api/ps, /api/show, /api/version, unload. */
  requestTimeoutMs: number;
  /** Limit for one load request; a load is never tied to a caller's signal, only to this. */
  loadTimeoutMs: number;
  /** Limit for one pull; downloads of large models take long. */
  pullTimeoutMs: number;
  /** How often `unload()` polls /api/ps until Ollama has really freed the model. */
  pollIntervalMs: number;
  /** Read each model's context length from /api/show for the catalog (one call per model). */
  showContextLength: boolean;
  /** Context the server allocates per slot (its num_ctx / OLLAMA_CONTEXT_LENGTH), for the KV estimate. */
  contextSize: number;
  /** Runtime overhead per loaded model (CUDA context, compute graph) added to the estimate. */
  overheadBytes: number;
}

/**
 * Ollama's own defaults where it has them: port 11434 and OLLAMA_NUM_PARALLEL 1. A cold load
 * of a 70B model from disk takes minutes, hence the generous load limit.
 */
export const OLLAMA_ENGINE_DEFAULTS: OllamaEngineOptions = {
  url: 'http://127.0.0.1:11434',
  slotsPerModel: 1,
  memoryBytes: Math.floor(totalmem() / 2),
  pull: false,
  requestTimeoutMs: 30_000,
  loadTimeoutMs: 10 * 60_000,
  pullTimeoutMs: 6 * 3_600_000,
  pollIntervalMs: 250,
  showContextLength: true,
  contextSize: 4096,
  overheadBytes: 512 * 1024 * 1024,
};

/** Defaults merged and checked once, so a bad setting fails at start, not at the first load. */
export function resolveOllamaOptions(opts: Partial<OllamaEngineOptions> = {}): OllamaEngineOptions {
  const o = { ...OLLAMA_ENGINE_DEFAULTS, ...opts };
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw new Error(`ollama engine: url must be an absolute URL, got ${JSON.stringify(o.url)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`ollama engine: url must be http(s), got ${o.url}`);
  const positive = { min: 0, gt: true };
  checkBounds('ollama engine', o, {
    slotsPerModel: { min: 1, int: true, env: 'FABRIC_SLOTS' },
    memoryBytes: { ...positive, env: 'FABRIC_VRAM_BYTES' },
    requestTimeoutMs: positive,
    loadTimeoutMs: positive,
    pullTimeoutMs: positive,
    pollIntervalMs: positive,
  });
  return { ...o, url: o.url.replace(/\/+$/, '') };
}
