/**
 * The engine port: everything the worker needs from an inference engine (embedded
 * llama.cpp, an Ollama server, or the test double). Implementations throw `EngineError`.
 */
import type { ChatMessage, GenerationOptions } from '../../../protocol/job.ts';
import type { GpuInfo } from '../../../protocol/worker-state.ts';

export interface ModelDescriptor {
  /** Canonical model name (`name:tag`). */
  name: string;
  sizeBytes: number;
  family?: string;
  parameterSize?: string;
  quantization?: string;
  digest?: string;
  modifiedAt?: string;
  /** Context (tokens per slot) this engine loads the model with: min(its configured context, the trained maximum). */
  contextLength?: number;
  /** The model file's trained maximum context (GGUF `<arch>.context_length`). */
  trainedContextLength?: number;
}

export interface LoadResult {
  /** Memory the loaded model occupies, as measured by the engine. */
  sizeBytes: number;
  sizeVramBytes: number;
  loadMs: number;
  /** Context (tokens per slot) the engine actually allocated, when it says. */
  contextLength?: number;
}

/** Progress of a load that first has to fetch the model (an Ollama pull). */
export interface LoadProgress {
  status: string;
  completed?: number;
  total?: number;
}

export interface LoadOptions {
  onProgress?: (p: LoadProgress) => void;
}

/** A pull asked for by an operator (`POST /api/pull`). */
export interface PullOptions {
  /** Ollama's pull statuses as the download moves (`pulling manifest`, `pulling <digest>`, ...). */
  onProgress: (p: LoadProgress) => void;
  /** A source for this pull only (engines that download files themselves). */
  url?: string;
  sha256?: string;
}

export interface ResidentModel {
  name: string;
  sizeBytes: number;
  sizeVramBytes: number;
}

export interface GenerateRequest {
  model: string;
  task: 'generate' | 'chat';
  prompt?: string;
  system?: string;
  /** An Ollama prompt template for `generate` (engines that do not take one ignore it). */
  template?: string;
  messages?: ChatMessage[];
  options: GenerationOptions;
  format?: 'json' | Record<string, unknown>;
  signal: AbortSignal;
  /** Called with each piece of text as the engine produces it. */
  onToken: (text: string) => void;
}

export interface GenerateResult {
  text: string;
  doneReason: 'stop' | 'length';
  promptTokens: number;
  completionTokens: number;
  promptEvalMs: number;
  evalMs: number;
}

export interface EmbedRequest {
  model: string;
  input: string[];
  signal: AbortSignal;
}

export interface EmbedResult {
  embeddings: number[][];
  promptTokens: number;
}

/** What a model will occupy once loaded, before it is (the VRAM ledger's estimate). */
export interface FootprintEstimate {
  weightsBytes: number;
  kvCacheBytes: number;
  overheadBytes: number;
  totalBytes: number;
}

export interface EngineCapacity {
  /** Parallel generations per resident model (BullMQ worker concurrency). */
  slotsPerModel: number;
  /** Memory the engine may fill with models. */
  memoryBytes: number;
  gpus: GpuInfo[];
}

export interface Engine {
  readonly kind: string;
  /** Models this engine can load. */
  catalog(): Promise<ModelDescriptor[]>;
  load(model: string, opts?: LoadOptions): Promise<LoadResult>;
  unload(model: string): Promise<void>;
  /** Models currently loaded, as the engine itself reports them. */
  resident(): Promise<ResidentModel[]>;
  generate(req: GenerateRequest): Promise<GenerateResult>;
  embed(req: EmbedRequest): Promise<EmbedResult>;
  capacity(): Promise<EngineCapacity>;
  /** Whether the engine answers (an Ollama server may be down); engines in-process omit it. */
  healthy?(): Promise<boolean>;
  /** Fetches a model onto this engine's disk without loading it; resolves once it is in `catalog()`. */
  pull?(model: string, opts: PullOptions): Promise<void>;
  /** Deletes a model from this engine's disk (unloaded first by the caller). Missing: no error. */
  remove?(model: string): Promise<void>;
  /** The footprint `load(model)` will need; engines that cannot tell return undefined. */
  estimateFootprint?(model: string): Promise<FootprintEstimate | undefined>;
  close(): Promise<void>;
}
