/** The worker's environment variables, read once with typed readers. */
import { totalmem } from 'node:os';
import { ConfigError, envBool, envBytes, envDurationMs, envInt, envList, envRatio, envString } from '../protocol/env.js';
import { canonicalModelName } from '../protocol/model-names.js';
import { gpuReaderOptionsFromEnv } from './gpu/gpu-config.js';
import type { GpuReaderOptions } from './gpu/gpu-reader.js';
import { defaultWorkerId, workerOptions, type WorkerNodeOptions } from './options.js';

type Env = Record<string, string | undefined>;

export type EngineKind = 'llama-cpp' | 'fake' | 'ollama';

export interface EngineConfig {
  kind: EngineKind;
  modelsDir: string;
  /** Write the demo GGUF models into modelsDir when it has none. */
  demoModels: boolean;
  threads: number;
  contextSize: number;
  slotsPerModel: number;
  memoryBytes: number;
  fakeLoadMs: number;
  fakeTokensPerSecond: number;
  /** Base URL of the Ollama server the worker sits next to (kind 'ollama'). */
  ollamaUrl: string;
  /** Pull a model from the registry when a load finds it missing on the Ollama server. */
  ollamaPull: boolean;
  /** Start and supervise `ollama serve` as a child (the one-container GPU worker image). */
  ollamaServe: boolean;
  /** The `ollama` binary the worker starts. */
  ollamaCommand: string;
}

export interface WorkerConfig {
  engine: EngineConfig;
  /** Where GPU truth comes from (NVML, nvidia-smi, or none). */
  gpu: Omit<GpuReaderOptions, 'logger'>;
  node: WorkerNodeOptions;
  /** Port of the worker's own /healthz and /metrics server; 0 turns it off. */
  metricsPort: number;
}

export function workerConfigFromEnv(env: Env): WorkerConfig {
  const kind = envString(env, 'FABRIC_ENGINE', 'llama-cpp');
  if (kind !== 'llama-cpp' && kind !== 'fake' && kind !== 'ollama') {
    throw new ConfigError(`FABRIC_ENGINE must be llama-cpp, ollama or fake, got ${JSON.stringify(kind)}`);
  }
  const heartbeatIntervalMs = envDurationMs(env, 'FABRIC_HEARTBEAT_INTERVAL', 2_000);
  return {
    engine: {
      kind,
      modelsDir: envString(env, 'FABRIC_MODELS_DIR', './models'),
      demoModels: envBool(env, 'FABRIC_DEMO_MODELS', true),
      threads: envInt(env, 'FABRIC_LLAMA_THREADS', 1, 1),
      contextSize: envInt(env, 'FABRIC_CONTEXT_SIZE', 1024, 64),
      // Ollama: match the server's OLLAMA_NUM_PARALLEL (its default is 1).
      slotsPerModel: envInt(env, 'FABRIC_SLOTS', kind === 'fake' ? 4 : kind === 'ollama' ? 1 : 2, 1),
      memoryBytes: envBytes(env, 'FABRIC_VRAM_BYTES', Math.floor(totalmem() / 2)),
      fakeLoadMs: envInt(env, 'FABRIC_FAKE_LOAD_MS', 50),
      fakeTokensPerSecond: envInt(env, 'FABRIC_FAKE_TPS', 200),
      ollamaUrl: envString(env, 'OLLAMA_URL', 'http://127.0.0.1:11434'),
      ollamaPull: envBool(env, 'FABRIC_OLLAMA_PULL', false),
      ollamaServe: envBool(env, 'FABRIC_OLLAMA_SERVE', false),
      ollamaCommand: envString(env, 'FABRIC_OLLAMA_COMMAND', 'ollama'),
    },
    node: workerOptions({
      workerId: envString(env, 'FABRIC_WORKER_ID', defaultWorkerId()),
      pool: envString(env, 'FABRIC_WORKER_POOL', '') || undefined,
      preload: envList(env, 'FABRIC_PRELOAD').map(canonicalModelName),
      heartbeatIntervalMs,
      drainTimeoutMs: envDurationMs(env, 'FABRIC_DRAIN_TIMEOUT', 60_000),
      vramHeadroomRatio: envRatio(env, 'FABRIC_VRAM_HEADROOM', 0.1),
    }),
    gpu: gpuReaderOptionsFromEnv(env),
    metricsPort: envInt(env, 'FABRIC_WORKER_PORT', 9091),
  };
}
