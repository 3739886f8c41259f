/**
 * The engine port: everything the worker needs from an inference engine (embedded
 * llama.cpp, an Ollama server, or the test double). Implementations throw `EngineError`.
 */
import type { ChatMessage, GenerationOptions, JobInput, TokenLogprob } from '../../../protocol/job.ts';
import type { DeltaEvent } from '../../../protocol/conversation.ts';
import type { Tool, ToolCall } from '../../../protocol/tools.ts';
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
  /**
   * Tools the model may call on its own (`tool_choice` auto); the engine returns the calls it
   * makes. With tools, `messages` come as the client sent them (assistant `tool_calls`, `tool`
   * results) for the engine to render in the model's own format; without, tool turns arrive
   * already rendered as text (protocol/tools.ts `renderToolMessages`).
   */
  tools?: Tool[];
  /** Whether several calls may come in one answer. */
  parallelToolCalls?: boolean;
  /** Reasoning switch (engines without the `think` feature never get it: see protocol/engine-features.ts). */
  think?: JobInput['think'];
  /** Per-token log probabilities, with this many alternatives each (0: none). */
  logprobs?: { top: number };
  /** A generate job's images (base64); a chat's ride on its messages. */
  images?: string[];
  signal: AbortSignal;
  /** Called with each piece of visible text as the engine produces it. */
  onToken: (text: string) => void;
  /** Called with each non-text event (reasoning text, tool-call pieces) as the engine produces it. */
  onDelta?: (ev: DeltaEvent) => void;
}

export interface GenerateResult {
  text: string;
  doneReason: 'stop' | 'length';
  /** The stop sequence that ended the text, when one did (engines that cannot tell leave it out). */
  stopSequence?: string;
  /** Calls the model made (auto tool choice). */
  toolCalls?: ToolCall[];
  /** Reasoning text, apart from `text`. */
  thinking?: string;
  logprobs?: TokenLogprob[];
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
  /**
   * The files a load of `model` reads, for the host page cache (worker/host-cache); engines
   * whose files this process cannot read (a separate Ollama server) omit it.
   */
  modelFiles?(model: string): Promise<string[]>;
  close(): Promise<void>;
}
