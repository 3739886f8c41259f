/**
 * The Ollama engine: the worker as a sidecar next to an Ollama server. Residency is pinned by
 * the fabric, not by Ollama's timers: loads and every job request carry `keep_alive: -1`, so
 * Ollama never evicts behind the worker's back; `resident()` still reads `/api/ps` so the
 * worker notices a model Ollama dropped anyway (crash, restart, OOM).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError } from '../../../protocol/errors.ts';
import { createLogger, type Logger } from '../../../protocol/logger.ts';
import { canonicalModelName } from '../../../protocol/model-names.ts';
import type { GpuInfo } from '../../../protocol/worker-state.ts';
import type {
  EmbedRequest,
  EmbedResult,
  Engine,
  EngineCapacity,
  FootprintEstimate,
  GenerateRequest,
  GenerateResult,
  LoadResult,
  ModelDescriptor,
  PullOptions,
  ResidentModel,
} from '../port/engine.ts';
import { estimateFootprint } from '../port/footprint-estimate.ts';
import { canonicalOrRaw, OllamaCatalog } from './catalog.ts';
import { OllamaClient } from './client.ts';
import { resolveOllamaOptions, type OllamaEngineOptions } from './options.ts';
import { pullModel, type PullProgress } from './pull.ts';
import { ChunkReader, generationBody } from './generation.ts';
import type { OllamaChunk, OllamaEmbedResponse, OllamaProcess } from './wire.ts';

export type { PullProgress } from './pull.ts';

/** `keep_alive` meaning "never expire": the fabric decides when a model leaves. */
const PIN = -1;

export interface OllamaLoadOptions {
  /** Progress of a pull, when `pull` is on and the model had to be downloaded first. */
  onProgress?: (p: PullProgress) => void;
  /**
   * Ends this caller's wait only. The load request itself carries on: Ollama cancels a load
   * whose client disconnects (ollama/ollama#7408), so no caller may close it.
   */
  signal?: AbortSignal;
}

export interface OllamaEngineDeps {
  logger?: Logger;
  /** Per-GPU truth (NVML); when given, `capacity()` reports its GPUs and their total memory. */
  gpuReader?: () => Promise<GpuInfo[]>;
}

/** A model Ollama holds, with its expiry (far future when pinned). */
export interface OllamaRunningModel extends ResidentModel {
  expiresAt: string | null;
  contextLength?: number;
}

interface PendingLoad {
  done: Promise<LoadResult>;
  listeners: Set<(p: PullProgress) => void>;
}

const nsToMs = (ns: number | undefined) => (ns ?? 0) / 1e6;

/** Rejects with `aborted` when `signal` fires, without touching the work behind `promise`. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  if (signal.aborted) return Promise.reject(new EngineError('aborted', `stopped waiting for ${what}; it continues`));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new EngineError('aborted', `stopped waiting for ${what}; it continues`));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class OllamaEngine implements Engine {
  readonly kind = 'ollama';
  readonly options: OllamaEngineOptions;
  private readonly client: OllamaClient;
  private readonly log: Logger;
  private readonly gpuReader?: () => Promise<GpuInfo[]>;
  /** In-flight loads, so two callers of `load(m)` share one request. */
  private readonly loading = new Map<string, PendingLoad>();
  private readonly models: OllamaCatalog;
  private closed = false;

  constructor(opts: Partial<OllamaEngineOptions> = {}, deps: OllamaEngineDeps = {}) {
    this.options = resolveOllamaOptions(opts);
    this.client = new OllamaClient(this.options.url, this.options.requestTimeoutMs);
    this.log = deps.logger ?? createLogger('ollama-engine');
    this.gpuReader = deps.gpuReader;
    this.models = new OllamaCatalog(this.client, this.log, this.options.showContextLength);
  }

  /** Models on the server's disk (`/api/tags`), with context lengths from `/api/show`. */
  /**
   * /api/tags, each model's context given as the one Ollama is configured to load it with
   * (`contextSize`, as OLLAMA_CONTEXT_LENGTH) capped by the trained maximum /api/show reports.
   */
  async catalog(): Promise<ModelDescriptor[]> {
    return (await this.models.list()).map(({ contextLength: trained, ...m }) =>
      trained === undefined ? m : { ...m, contextLength: Math.min(this.options.contextSize, trained), trainedContextLength: trained },
    );
  }

  /**
   * Loads and pins a model (an empty prompt with `keep_alive: -1`), pulling it first when
   * `pull` is on and Ollama does not have it; sizes come from `/api/ps` afterwards.
   * Options beyond the Engine port: pull progress and a caller signal that abandons the wait only.
   */
  async load(model: string, opts: OllamaLoadOptions = {}): Promise<LoadResult> {
    this.assertOpen();
    const name = this.canonical(model);
    let pending = this.loading.get(name);
    if (!pending) {
      const listeners = new Set<(p: PullProgress) => void>();
      const done = this.doLoad(name, (p) => listeners.forEach((l) => l(p))).finally(() => this.loading.delete(name));
      pending = { done, listeners };
      this.loading.set(name, pending);
    }
    const { onProgress, signal } = opts;
    if (onProgress) pending.listeners.add(onProgress);
    const wait = signal ? untilAborted(pending.done, signal, `the load of ${name}`) : pending.done;
    return wait.finally(() => onProgress && pending.listeners.delete(onProgress));
  }

  /** Ollama's own pull (`POST /api/pull`), its statuses passed on as they come. */
  async pull(model: string, opts: PullOptions): Promise<void> {
    this.assertOpen();
    await pullModel(this.client, this.canonical(model), opts.onProgress, { timeoutMs: this.options.pullTimeoutMs, log: this.log });
  }

  /** Deletes the model from the Ollama server (`DELETE /api/delete`); one it lacks is no error. */
  async remove(model: string): Promise<void> {
    const name = this.canonical(model);
    await this.unload(name);
    try {
      await this.client.ok('DELETE', '/api/delete', { model: name });
    } catch (err) {
      if (!(err instanceof EngineError && err.code === 'model_not_found')) throw err;
    }
  }

  /** Unloads (`keep_alive: 0`) and waits until `/api/ps` no longer lists the model, so its memory is free. */
  async unload(model: string): Promise<void> {
    const name = this.canonical(model);
    await this.loading.get(name)?.done.catch(() => undefined);
    try {
      await this.client.json('POST', '/api/generate', { model: name, keep_alive: 0, stream: false });
    } catch (err) {
      if (err instanceof EngineError && err.code === 'model_not_found') return;
      throw err;
    }
    // Ollama answers before its runner has exited; the next load must not count on memory still held.
    const until = Date.now() + this.options.requestTimeoutMs;
    while ((await this.running()).some((m) => m.name === name)) {
      if (Date.now() > until) {
        throw new EngineError('engine_error', `${name} still listed by /api/ps ${this.options.requestTimeoutMs} ms after its unload`);
      }
      await sleep(this.options.pollIntervalMs);
    }
    this.log.info({ model: name }, 'Model unloaded');
  }

  async resident(): Promise<ResidentModel[]> {
    return (await this.running()).map(({ name, sizeBytes, sizeVramBytes }) => ({ name, sizeBytes, sizeVramBytes }));
  }

  /** `/api/ps` with expiries: a near expiry on a model means someone unpinned it. */
  async running(): Promise<OllamaRunningModel[]> {
    const ps = await this.client.json<{ models?: OllamaProcess[] }>('GET', '/api/ps');
    return (ps.models ?? []).map((m) => ({
      name: canonicalOrRaw(m.name || m.model || ''),
      sizeBytes: m.size,
      sizeVramBytes: m.size_vram ?? 0,
      expiresAt: m.expires_at ?? null,
      ...(m.context_length ? { contextLength: m.context_length } : {}),
    }));
  }

  /** Streams a generation (`/api/generate`) or chat turn (`/api/chat`); aborting `req.signal` closes the request. */
  async generate(req: GenerateRequest): Promise<GenerateResult> {
    this.assertOpen();
    if (req.signal.aborted) throw new EngineError('aborted', 'generation aborted before it started');
    const reader = new ChunkReader(req);
    let final: OllamaChunk | undefined;
    // No timeout of our own: the job's timeout aborts req.signal.
    const path = req.task === 'chat' ? '/api/chat' : '/api/generate';
    for await (const chunk of this.client.stream<OllamaChunk>(path, generationBody(req, PIN), { signal: req.signal, timeoutMs: null })) {
      reader.read(chunk);
      if (chunk.done) final = chunk;
    }
    if (req.signal.aborted) throw new EngineError('aborted', 'generation aborted');
    if (!final) throw new EngineError('engine_unavailable', `ollama ended the ${req.task} stream of ${req.model} without its final chunk`);
    return {
      text: reader.text,
      doneReason: final.done_reason === 'length' ? 'length' : 'stop',
      ...(reader.toolCalls.length ? { toolCalls: reader.toolCalls } : {}),
      ...(reader.thinking ? { thinking: reader.thinking } : {}),
      ...(req.logprobs ? { logprobs: reader.logprobs } : {}),
      promptTokens: final.prompt_eval_count ?? 0,
      completionTokens: final.eval_count ?? reader.pieces,
      promptEvalMs: nsToMs(final.prompt_eval_duration),
      evalMs: nsToMs(final.eval_duration),
    };
  }

  async embed(req: EmbedRequest): Promise<EmbedResult> {
    this.assertOpen();
    const body = { model: req.model, input: req.input, keep_alive: PIN };
    const res = await this.client.json<OllamaEmbedResponse>('POST', '/api/embed', body, { signal: req.signal, timeoutMs: null });
    return { embeddings: res.embeddings, promptTokens: res.prompt_eval_count ?? 0 };
  }

  /**
   * Weights (the size /api/tags reports) + f16 KV cache for `contextSize` x slots from the
   * model's shape in /api/show + runtime overhead. Without a shape, weights + overhead.
   */
  async estimateFootprint(model: string): Promise<FootprintEstimate | undefined> {
    const tag = (await this.models.list().catch(() => [])).find((m) => m.name === canonicalOrRaw(model));
    if (!tag) return undefined;
    const shape = await this.models.shape(tag.name, tag.digest);
    return estimateFootprint({
      weightsBytes: tag.sizeBytes,
      layers: shape?.layers ?? 0,
      kvWidth: shape?.kvWidth ?? 0,
      contextSize: Math.min(this.options.contextSize, shape?.contextLength ?? this.options.contextSize),
      slots: this.options.slotsPerModel,
      overheadBytes: this.options.overheadBytes,
    });
  }

  /** Slots from config; memory from the GPU reader's totals when it has GPUs, else `memoryBytes`. */
  async capacity(): Promise<EngineCapacity> {
    let gpus: GpuInfo[] = [];
    if (this.gpuReader) {
      try {
        gpus = await this.gpuReader();
      } catch (err) {
        this.log.warn({ err: String(err) }, 'GPU read failed; reporting configured capacity');
      }
    }
    const memoryBytes = gpus.length > 0 ? gpus.reduce((s, g) => s + g.memoryTotalBytes, 0) : this.options.memoryBytes;
    return { slotsPerModel: this.options.slotsPerModel, memoryBytes, gpus };
  }

  /** Whether the server answers `/api/version`: false means stop taking jobs, keep them queued. */
  async healthy(): Promise<boolean> {
    try {
      const v = await this.client.json<{ version?: unknown }>('GET', '/api/version');
      return typeof v.version === 'string';
    } catch {
      return false;
    }
  }

  /**
   * Drops connections. Models stay loaded and pinned on the server: they belong to Ollama,
   * and a restarted worker finds them warm (its preload answers at once).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.client.close();
    } catch (err) {
      this.log.warn({ err: String(err) }, 'Closing the Ollama client failed');
    }
  }

  private async doLoad(name: string, onProgress: (p: PullProgress) => void): Promise<LoadResult> {
    this.log.info({ model: name }, 'Loading model');
    let loadMs: number;
    try {
      loadMs = await this.requestLoad(name);
    } catch (err) {
      if (!(this.options.pull && err instanceof EngineError && err.code === 'model_not_found')) throw err;
      await pullModel(this.client, name, onProgress, { timeoutMs: this.options.pullTimeoutMs, log: this.log });
      loadMs = await this.requestLoad(name);
    }
    const proc = (await this.running()).find((m) => m.name === name);
    if (!proc) throw new EngineError('engine_unavailable', `${name} loaded but /api/ps does not list it: ollama dropped it at once`);
    const result: LoadResult = { sizeBytes: proc.sizeBytes, sizeVramBytes: proc.sizeVramBytes, loadMs, ...(proc.contextLength ? { contextLength: proc.contextLength } : {}) };
    this.log.info({ model: name, ...result }, 'Model loaded');
    return result;
  }

  /** One load request, bound to our own limit and never to a caller; returns its duration. */
  private async requestLoad(name: string): Promise<number> {
    const started = performance.now();
    await this.client.json('POST', '/api/generate', { model: name, keep_alive: PIN, stream: false }, { timeoutMs: this.options.loadTimeoutMs });
    return Math.round(performance.now() - started);
  }

  private canonical(model: string): string {
    try {
      return canonicalModelName(model);
    } catch (err) {
      throw new EngineError('model_not_found', `invalid model name ${JSON.stringify(model)}`, { cause: err });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new EngineError('engine_unavailable', 'engine is closed');
  }
}
