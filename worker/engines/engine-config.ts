/** What each engine kind is configured with: one union by kind, read from the environment in worker/config.ts. */

export const ENGINE_KINDS = ['llama-cpp', 'fake', 'ollama'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

interface EngineCommon {
  /** Jobs one resident model runs at once (Ollama: match the server's OLLAMA_NUM_PARALLEL). */
  readonly slotsPerModel: number;
  /** Memory the engine may fill with models when no GPU reports its own. */
  readonly memoryBytes: number;
}

export interface LlamaCppEngineConfig extends EngineCommon {
  readonly kind: 'llama-cpp';
  readonly modelsDir: string;
  /** Write the demo GGUF models into modelsDir when it has none. */
  readonly demoModels: boolean;
  readonly threads: number;
  readonly contextSize: number;
  /** Models downloadable by name (FABRIC_MODEL_SOURCES): canonical name -> URL. */
  readonly modelSources: ReadonlyMap<string, string>;
  /** Hub API base for `hf.co/org/repo:quant` names (FABRIC_HF_ENDPOINT). */
  readonly hfEndpoint: string;
  /** Bytes the models folder may hold (FABRIC_DISK_CACHE_BYTES); Infinity: unbounded. */
  readonly diskCacheBytes: number;
}

export interface OllamaEngineConfig extends EngineCommon {
  readonly kind: 'ollama';
  /** Base URL of the Ollama server the worker sits next to. */
  readonly url: string;
  /** Pull a model from the registry when a load finds it missing on the Ollama server. */
  readonly pull: boolean;
  /** Start and supervise `ollama serve` as a child (the one-container GPU worker image). */
  readonly serve: boolean;
  /** The `ollama` binary the worker starts. */
  readonly command: string;
}

export interface FakeEngineConfig extends EngineCommon {
  readonly kind: 'fake';
  readonly loadMs: number;
  readonly tokensPerSecond: number;
}

export type EngineConfig = LlamaCppEngineConfig | OllamaEngineConfig | FakeEngineConfig;
