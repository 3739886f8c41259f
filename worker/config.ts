/** The worker's environment variables, read once with typed readers. */
import { totalmem } from 'node:os';
import { ConfigError, envBool, envBytes, envDurationMs, envInt, envList, envRatio, envString, type Env } from '../protocol/env.ts';
import { canonicalModelName } from '../protocol/model-names.ts';
import { DEFAULT_VRAM_HEADROOM } from '../protocol/vram-rule.ts';
import { gpuReaderOptionsFromEnv } from './gpu/gpu-config.ts';
import { ENGINE_KINDS, type EngineConfig, type EngineKind } from './engines/engine-config.ts';
import type { GpuReaderOptions } from './gpu/gpu-reader.ts';
import { WORKER_DEFAULTS, defaultWorkerId, workerOptions, type WorkerNodeOptions } from './options.ts';

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
  if (!(ENGINE_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(`FABRIC_ENGINE must be llama-cpp, ollama or fake, got ${JSON.stringify(kind)}`);
  }
  const heartbeatIntervalMs = envDurationMs(env, 'FABRIC_HEARTBEAT_INTERVAL', 2_000);
  return {
    engine: engineConfigFromEnv(env, kind as EngineKind),
    node: workerOptions({
      workerId: envString(env, 'FABRIC_WORKER_ID', defaultWorkerId()),
      pool: envString(env, 'FABRIC_WORKER_POOL', '') || undefined,
      preload: envList(env, 'FABRIC_PRELOAD').map(canonicalModelName),
      heartbeatIntervalMs,
      drainTimeoutMs: envDurationMs(env, 'FABRIC_DRAIN_TIMEOUT', 60_000),
      vramHeadroomRatio: envRatio(env, 'FABRIC_VRAM_HEADROOM', DEFAULT_VRAM_HEADROOM),
      tenantSlotLeaseMs: envDurationMs(env, 'FABRIC_TENANT_SLOT_LEASE', WORKER_DEFAULTS.tenantSlotLeaseMs),
      hostCacheBytes: envBytes(env, 'FABRIC_HOST_CACHE_BYTES', WORKER_DEFAULTS.hostCacheBytes),
    }),
    gpu: gpuReaderOptionsFromEnv(env),
    metricsPort: envInt(env, 'FABRIC_WORKER_PORT', 9091),
  };
}

/**
 * FABRIC_MODEL_SOURCES: comma-separated `name=url` (an optional `#sha256=<hex>` on the URL),
 * models the llama.cpp engine lists and downloads on first use.
 */
export function modelSourcesFromEnv(env: Env): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of envList(env, 'FABRIC_MODEL_SOURCES')) {
    const eq = entry.indexOf('=');
    const name = eq > 0 ? entry.slice(0, eq).trim() : '';
    const url = eq > 0 ? entry.slice(eq + 1).trim() : '';
    if (!name || !/^https?:\/\//.test(url)) throw new ConfigError(`FABRIC_MODEL_SOURCES entries must be name=http(s)://url, got ${JSON.stringify(entry)}`);
    try {
      out.set(canonicalModelName(name), url);
    } catch {
      throw new ConfigError(`FABRIC_MODEL_SOURCES: invalid model name ${JSON.stringify(name)}`);
    }
  }
  return out;
}

function engineConfigFromEnv(env: Env, kind: EngineKind): EngineConfig {
  const common = {
    // Ollama: match the server's OLLAMA_NUM_PARALLEL (its default is 1).
    slotsPerModel: envInt(env, 'FABRIC_SLOTS', kind === 'fake' ? 4 : kind === 'ollama' ? 1 : 2, 1),
    memoryBytes: envBytes(env, 'FABRIC_VRAM_BYTES', Math.floor(totalmem() / 2)),
  };
  switch (kind) {
    case 'fake':
      return { kind, ...common, loadMs: envInt(env, 'FABRIC_FAKE_LOAD_MS', 50), tokensPerSecond: envInt(env, 'FABRIC_FAKE_TPS', 200) };
    case 'ollama':
      return {
        kind,
        ...common,
        url: envString(env, 'OLLAMA_URL', 'http://127.0.0.1:11434'),
        pull: envBool(env, 'FABRIC_OLLAMA_PULL', false),
        serve: envBool(env, 'FABRIC_OLLAMA_SERVE', false),
        command: envString(env, 'FABRIC_OLLAMA_COMMAND', 'ollama'),
      };
    case 'llama-cpp':
      return {
        kind,
        ...common,
        modelsDir: envString(env, 'FABRIC_MODELS_DIR', './models'),
        demoModels: envBool(env, 'FABRIC_DEMO_MODELS', true),
        threads: envInt(env, 'FABRIC_LLAMA_THREADS', 1, 1),
        contextSize: envInt(env, 'FABRIC_CONTEXT_SIZE', 1024, 64),
        modelSources: modelSourcesFromEnv(env),
        hfEndpoint: envString(env, 'FABRIC_HF_ENDPOINT', 'https://huggingface.co'),
        diskCacheBytes: envBytes(env, 'FABRIC_DISK_CACHE_BYTES', Infinity),
      };
  }
}
