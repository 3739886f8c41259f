/**
 * The embedded llama.cpp engine (node-llama-cpp): serves the `.gguf` files of one folder.
 * A loaded model holds one context with `slotsPerModel` sequences; each generation takes a
 * sequence of its own and gives it back when done, so slots are the unit of concurrency.
 */
import { llamaGpus, startLlama } from './llama-runtime.ts';
import { embedTexts } from './embedding.ts';
import {
  DisposedError,
  InsufficientMemoryError,
  resolveChatWrapper,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaEmbeddingContext,
  type LlamaModel,
} from 'node-llama-cpp';
import { EngineError, isAbortError } from '../../../protocol/errors.ts';
import { createLogger, type Logger } from '../../../protocol/logger.ts';
import { canonicalModelName } from '../../../protocol/model-names.ts';
import type {
  EmbedRequest,
  EmbedResult,
  Engine,
  EngineCapacity,
  FootprintEstimate,
  GenerateRequest,
  GenerateResult,
  LoadOptions,
  LoadResult,
  ModelDescriptor,
  PullOptions,
  ResidentModel,
} from '../port/engine.ts';
import { rm } from 'node:fs/promises';
import { FETCHER_DEFAULTS, ModelFetcher } from './sources/model-fetcher.ts';
import { resolveLlamaCppOptions, type LlamaCppEngineOptions } from './engine-options.ts';
import { partialPath } from './sources/downloader.ts';
import { runGeneration } from './generation.ts';
import { chatFunctions, runToolChat, toolChatHistory, toolChatPromptTokens } from './tool-chat.ts';
import type { Tool } from '../../../protocol/tools.ts';
import { estimateFootprint } from '../port/footprint-estimate.ts';
import { GgufCatalog, type GgufModelFile } from './model-catalog.ts';
import { formatGrammar, maxTokens, promptTokens, samplingParams, stopSequences } from './request-params.ts';

/** CUDA context and compute buffers when layers are offloaded to a GPU (a conservative figure). */
const GPU_OVERHEAD_BYTES = 512 * 1024 * 1024;

interface LoadedModel {
  file: GgufModelFile;
  model: LlamaModel;
  context: LlamaContext;
  chatWrapper: ChatWrapper;
  /** Created on first `embed`, so chat-only models never pay for it. */
  embedding?: Promise<LlamaEmbeddingContext>;
  result: LoadResult;
}

/** Maps node-llama-cpp failures onto the fabric's error kinds. */
function toEngineError(err: unknown, context: string): EngineError {
  if (err instanceof EngineError) return err;
  if (isAbortError(err)) return new EngineError('aborted', `${context}: aborted`, { cause: err });
  if (err instanceof InsufficientMemoryError) return new EngineError('out_of_memory', `${context}: ${err.message}`, { cause: err });
  if (err instanceof DisposedError) {
    return new EngineError('engine_unavailable', `${context}: the model was unloaded meanwhile`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new EngineError('engine_error', `${context}: ${message}`, { cause: err });
}

export class LlamaCppEngine implements Engine {
  readonly kind = 'llama-cpp';
  readonly options: LlamaCppEngineOptions;
  private readonly log: Logger;
  private readonly models: GgufCatalog;
  private readonly fetcher: ModelFetcher;
  /** Sizes of declared models not yet on disk, asked of their source once. */
  private readonly remoteSizes = new Map<string, Promise<number>>();
  private llama?: Promise<Llama>;
  private readonly loaded = new Map<string, LoadedModel>();
  /** In-flight loads, so two callers of `load(m)` share one. */
  private readonly loading = new Map<string, Promise<LoadedModel>>();
  /** Estimated bytes of loads in flight, so concurrent loads cannot overbook memoryBytes together. */
  private reservedBytes = 0;
  private closed = false;

  constructor(opts: Partial<LlamaCppEngineOptions> = {}, deps: { logger?: Logger } = {}) {
    this.options = resolveLlamaCppOptions(opts);
    this.log = deps.logger ?? createLogger('llama-cpp-engine');
    this.models = new GgufCatalog(this.options.modelsDir, (path, err) =>
      this.log.warn({ path, err: err instanceof Error ? err.message : String(err) }, 'Skipping unreadable GGUF file'),
    );
    const o = this.options;
    this.fetcher = new ModelFetcher(
      o.modelsDir,
      { ...FETCHER_DEFAULTS, declared: o.modelSources, hfEndpoint: o.hfEndpoint, diskCacheBytes: o.diskCacheBytes, attempts: o.downloadAttempts, retryDelayMs: o.downloadRetryDelayMs },
      (path) => [...this.loaded.values()].some((m) => m.file.path === path),
      this.log,
    );
  }

  /** The files on disk, plus the declared models (FABRIC_MODEL_SOURCES) a load would download first. */
  async catalog(): Promise<ModelDescriptor[]> {
    const onDisk = (await this.models.list()).map(({ path: _path, layers: _layers, kvWidth: _kv, contextLength, ...descriptor }): ModelDescriptor => ({
      ...descriptor,
      contextLength: this.loadedContext(contextLength),
      ...(contextLength !== undefined ? { trainedContextLength: contextLength } : {}),
    }));
    const names = new Set(onDisk.map((m) => m.name));
    const remote = this.fetcher.declared().filter((m) => !names.has(m));
    const sizes = await Promise.all(remote.map((m) => this.remoteSize(m)));
    return [...onDisk, ...remote.map((name, i) => ({ name, sizeBytes: sizes[i]! }))];
  }

  /** A declared model's size from its source (0 when the source does not say). */
  private remoteSize(model: string): Promise<number> {
    let size = this.remoteSizes.get(model);
    if (!size) {
      size = this.fetcher.remoteSize(model).catch((err: unknown) => {
        this.log.warn({ model, err: String(err) }, 'Source did not give the size of a declared model');
        this.remoteSizes.delete(model);
        return 0;
      });
      this.remoteSizes.set(model, size);
    }
    return size;
  }

  /** Downloads a model into the folder (nothing to do when its file is there). */
  async pull(model: string, opts: PullOptions): Promise<void> {
    this.assertOpen();
    const name = this.canonical(model);
    // A model already in the folder under any file name (the demo models, a copied-in .gguf) is pulled.
    if (!opts.url && (await this.models.find(name))) {
      opts.onProgress({ status: 'pulling manifest' });
      return;
    }
    const res = await this.fetcher.fetch(name, opts.onProgress, { ...(opts.url ? { url: opts.url } : {}), ...(opts.sha256 ? { sha256: opts.sha256 } : {}) });
    if (!(await this.models.find(name))) {
      await rm(res.path, { force: true });
      throw new EngineError('invalid_request', `${name}: the downloaded file is not a readable GGUF model; it was deleted`);
    }
  }

  /** Unloads (if loaded) and deletes the model's file and any partial download of it. */
  async remove(model: string): Promise<void> {
    const name = this.canonical(model);
    await this.unload(name);
    const file = await this.models.find(name);
    const own = this.fetcher.pathOf(name);
    await Promise.all([file?.path, own, partialPath(own)].filter((p): p is string => !!p).map((p) => rm(p, { force: true })));
    this.log.info({ model: name }, 'Model deleted from disk');
  }

  /** The context a model is loaded with: the configured size, never past what the file was trained for. */
  private loadedContext(trained: number | undefined): number {
    return Math.min(this.options.contextSize, trained ?? this.options.contextSize);
  }

  async load(model: string, opts: LoadOptions = {}): Promise<LoadResult> {
    this.assertOpen();
    const name = this.canonical(model);
    const ready = this.loaded.get(name);
    if (ready) return { ...ready.result, loadMs: 0 };
    let pending = this.loading.get(name);
    if (!pending) {
      pending = this.doLoad(name, opts).finally(() => this.loading.delete(name));
      this.loading.set(name, pending);
    }
    return (await pending).result;
  }

  async unload(model: string): Promise<void> {
    const name = this.canonical(model);
    await this.loading.get(name)?.catch(() => undefined);
    const entry = this.loaded.get(name);
    if (!entry) return;
    this.loaded.delete(name); // from here on, new generations see model_not_found
    await this.dispose(entry);
    this.log.info({ model: name }, 'Model unloaded');
  }

  async resident(): Promise<ResidentModel[]> {
    return [...this.loaded.entries()].map(([name, m]) => ({
      name,
      sizeBytes: m.result.sizeBytes,
      sizeVramBytes: m.result.sizeVramBytes,
    }));
  }

  async generate(req: GenerateRequest): Promise<GenerateResult> {
    const entry = this.requireLoaded(req.model);
    if (req.task === 'chat' && req.tools?.length) return this.generateWithTools(entry, req, req.tools);
    const tokens = promptTokens(req, entry.model, entry.chatWrapper);
    const contextSize = entry.context.contextSize;
    if (tokens.length >= contextSize) {
      throw new EngineError('context_length_exceeded', `prompt of ${tokens.length} tokens does not fit the context of ${contextSize}`);
    }
    const grammar = await formatGrammar(entry.model.llama, req.format);
    const sequence = this.takeSequence(entry, req.signal);
    try {
      return await runGeneration(sequence, tokens, {
        ...samplingParams(req.options),
        maxTokens: maxTokens(req.options, contextSize - tokens.length),
        stops: stopSequences(req.options, grammar),
        signal: req.signal,
        onToken: req.onToken,
        ...(grammar ? { grammar } : {}),
        ...(req.logprobs ? { logprobs: req.logprobs } : {}),
      });
    } catch (err) {
      throw toEngineError(err, `generate on ${entry.file.name}`);
    } finally {
      await sequence.dispose().catch(() => undefined); // frees the slot and its KV cells
    }
  }

  /** A chat the model may answer with calls of its own (tool-chat.ts). */
  private async generateWithTools(entry: LoadedModel, req: GenerateRequest, tools: readonly Tool[]): Promise<GenerateResult> {
    if (req.format !== undefined) throw new EngineError('invalid_request', 'a response format cannot be combined with tools the model may call on the llama-cpp engine');
    if (req.logprobs) throw new EngineError('invalid_request', 'logprobs cannot be combined with tools the model may call on the llama-cpp engine');
    if (!req.messages?.length) throw new EngineError('invalid_request', 'chat needs at least one message');
    const history = toolChatHistory(req.messages);
    const functions = chatFunctions(tools);
    const sequence = this.takeSequence(entry, req.signal);
    try {
      const tokens = toolChatPromptTokens(entry.model, entry.chatWrapper, history, functions);
      const contextSize = entry.context.contextSize;
      if (tokens.length >= contextSize) {
        throw new EngineError('context_length_exceeded', `prompt of ${tokens.length} tokens (tools included) does not fit the context of ${contextSize}`);
      }
      return await runToolChat(sequence, entry.chatWrapper, history, functions, tokens.length, {
        ...samplingParams(req.options),
        maxTokens: maxTokens(req.options, contextSize - tokens.length),
        stops: stopSequences(req.options),
        ...(req.parallelToolCalls === false ? { maxCalls: 1 } : {}),
        signal: req.signal,
        onToken: req.onToken,
        onDelta: req.onDelta ?? (() => undefined),
      });
    } catch (err) {
      throw toEngineError(err, `generate on ${entry.file.name}`);
    } finally {
      await sequence.dispose().catch(() => undefined);
    }
  }

  /** A free slot of the model; throws when there is none (checked and taken with no await between). */
  private takeSequence(entry: LoadedModel, signal: AbortSignal) {
    if (signal.aborted) throw new EngineError('aborted', 'generation aborted before it started');
    if (entry.context.disposed) throw new EngineError('engine_unavailable', `${entry.file.name} was unloaded meanwhile`);
    if (entry.context.sequencesLeft === 0) {
      throw new EngineError('engine_busy', `all ${entry.context.totalSequences} slots of ${entry.file.name} are busy`);
    }
    return entry.context.getSequence();
  }

  async embed(req: EmbedRequest): Promise<EmbedResult> {
    const entry = this.requireLoaded(req.model);
    try {
      return await embedTexts(entry, req, this.options.threads);
    } catch (err) {
      throw toEngineError(err, `embed on ${entry.file.name}`);
    }
  }

  async modelFiles(model: string): Promise<string[]> {
    const file = await this.models.find(this.canonical(model));
    return file ? [file.path] : [];
  }

  /** File size + f16 KV cache for every slot; llama.cpp's compute buffers are small beside them on CPU. */
  async estimateFootprint(model: string): Promise<FootprintEstimate | undefined> {
    const file = await this.models.find(this.canonical(model));
    if (!file) return undefined;
    return this.footprint(file, this.loadedContext(file.contextLength));
  }

  private footprint(file: GgufModelFile, contextSize: number): FootprintEstimate {
    return estimateFootprint({
      weightsBytes: file.sizeBytes,
      layers: file.layers,
      kvWidth: file.kvWidth,
      contextSize,
      slots: this.options.slotsPerModel,
      overheadBytes: this.options.gpu === false ? 0 : GPU_OVERHEAD_BYTES,
    });
  }

  async capacity(): Promise<EngineCapacity> {
    // With GPUs, llama.cpp starts here (the worker asks at start): its backend is chosen and its GPU
    // context created before any load, so the first model's measured footprint is the model alone.
    const gpus = this.options.gpu === false ? [] : await llamaGpus(await this.getLlama());
    return { slotsPerModel: this.options.slotsPerModel, memoryBytes: this.options.memoryBytes, gpus };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.loading.values()]);
    for (const name of [...this.loaded.keys()]) {
      try {
        await this.unload(name);
      } catch (err) {
        this.log.warn({ model: name, err: String(err) }, 'Unload at close failed');
      }
    }
    try {
      if (this.llama) await (await this.llama).dispose();
    } catch (err) {
      this.log.warn({ err: String(err) }, 'Disposing llama.cpp failed');
    }
  }

  private async doLoad(name: string, opts: LoadOptions): Promise<LoadedModel> {
    let file = await this.models.find(name);
    // A model a source knows but no disk holds is downloaded first; the job waits in loading_model.
    if (!file && this.fetcher.knows(name)) {
      await this.fetcher.fetch(name, opts.onProgress ?? (() => undefined)).catch((err: unknown) => {
        throw toEngineError(err, `download ${name}`);
      });
      file = await this.models.find(name);
    }
    if (!file) throw new EngineError('model_not_found', `model ${name} not found in ${this.options.modelsDir}`);
    await this.fetcher.cache.touch(file.path);
    const contextSize = this.loadedContext(file.contextLength);
    const reserved = this.reserveMemory(file, contextSize);
    const started = performance.now();
    this.log.info({ model: name, path: file.path, contextSize, slots: this.options.slotsPerModel }, 'Loading model');
    let model: LlamaModel | undefined;
    try {
      const llama = await this.getLlama();
      model = await llama.loadModel({ modelPath: file.path, gpuLayers: this.options.gpu === false ? 0 : 'auto' });
      const context = await model.createContext({
        contextSize,
        sequences: this.options.slotsPerModel,
        threads: this.options.threads,
      });
      const sizeVramBytes = model.memoryUsage.vram + context.memoryUsage.vram;
      const result: LoadResult = {
        sizeBytes: model.memoryUsage.ram + context.memoryUsage.ram + sizeVramBytes,
        sizeVramBytes,
        loadMs: Math.round(performance.now() - started),
        contextLength: contextSize,
      };
      const entry: LoadedModel = { file, model, context, chatWrapper: resolveChatWrapper(model), result };
      if (this.closed) {
        await this.dispose(entry);
        throw new EngineError('engine_unavailable', 'engine closed during load');
      }
      this.loaded.set(name, entry);
      this.log.info({ model: name, ...result }, 'Model loaded');
      return entry;
    } catch (err) {
      if (model && !this.loaded.has(name)) await model.dispose().catch(() => undefined);
      throw toEngineError(err, `load ${name}`);
    } finally {
      this.reservedBytes -= reserved;
    }
  }

  /**
   * Refuses a load that would overrun `memoryBytes` (file size + f16 KV cache, as Ollama
   * estimates), else reserves that estimate until the load ends; returns the bytes reserved.
   */
  private reserveMemory(file: GgufModelFile, contextSize: number): number {
    const need = this.footprint(file, contextSize).totalBytes;
    const used = this.reservedBytes + [...this.loaded.values()].reduce((sum, m) => sum + m.result.sizeBytes, 0);
    if (used + need > this.options.memoryBytes) {
      throw new EngineError(
        'out_of_memory',
        `${file.name} needs about ${need} bytes; ${used} of ${this.options.memoryBytes} are in use`,
      );
    }
    this.reservedBytes += need;
    return need;
  }

  private getLlama(): Promise<Llama> {
    this.llama ??= startLlama(this.options, this.log).catch((err: unknown) => {
      this.llama = undefined;
      throw new EngineError('engine_unavailable', `llama.cpp failed to start: ${String(err)}`, { cause: err });
    });
    return this.llama;
  }

  private async dispose(entry: LoadedModel): Promise<void> {
    const steps: Array<() => Promise<void>> = [
      async () => {
        if (entry.embedding) await (await entry.embedding).dispose();
      },
      () => entry.context.dispose(),
      () => entry.model.dispose(),
    ];
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        this.log.warn({ model: entry.file.name, err: String(err) }, 'Dispose step failed');
      }
    }
  }

  private requireLoaded(model: string): LoadedModel {
    this.assertOpen();
    const name = this.canonical(model);
    const entry = this.loaded.get(name);
    if (!entry) throw new EngineError('model_not_found', `model ${name} is not loaded`);
    return entry;
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
