/** Builds the configured engine. The llama.cpp and Ollama ones are imported only when chosen. */
import type { Logger } from '../../protocol/logger.ts';
import type { EngineConfig } from './engine-config.ts';
import type { GpuInfo } from '../../protocol/worker-state.ts';
import type { Engine } from './port/engine.ts';
import { FakeEngine } from './fake-engine.ts';

/**
 * `gpus` is the worker's GPU reader when it found GPUs: the embedded engine then offloads
 * layers to them (after checking with `nvmlLibrary` that its CUDA backend can run there), and
 * the Ollama engine reports their memory as its capacity.
 */
export async function createEngine(cfg: EngineConfig, log: Logger, gpus?: () => Promise<GpuInfo[]>, nvmlLibrary?: string): Promise<Engine> {
  if (cfg.kind === 'fake') {
    log.warn({ engine: 'fake' }, 'Using the fake engine: a deterministic test double, not a model');
    return new FakeEngine({ loadMs: cfg.loadMs, tokensPerSecond: cfg.tokensPerSecond, slotsPerModel: cfg.slotsPerModel, memoryBytes: cfg.memoryBytes });
  }
  if (cfg.kind === 'ollama') {
    const { OllamaEngine } = await import('./ollama/ollama-engine.ts');
    log.info({ engine: 'ollama', url: cfg.url, pull: cfg.pull, slotsPerModel: cfg.slotsPerModel }, 'Using the Ollama engine');
    return new OllamaEngine({ url: cfg.url, pull: cfg.pull, slotsPerModel: cfg.slotsPerModel, memoryBytes: cfg.memoryBytes }, { logger: log, gpuReader: gpus });
  }
  const { ensureDemoModels } = await import('./llama-cpp/demo-models.ts');
  const { LlamaCppEngine } = await import('./llama-cpp/llama-cpp-engine.ts');
  if (cfg.demoModels) {
    const written = await ensureDemoModels(cfg.modelsDir);
    log.info({ modelsDir: cfg.modelsDir, models: written.map((m) => m.name) }, 'Demo models ready (random weights: their output is gibberish)');
  }
  return new LlamaCppEngine({
    modelsDir: cfg.modelsDir,
    threads: cfg.threads,
    contextSize: cfg.contextSize,
    slotsPerModel: cfg.slotsPerModel,
    memoryBytes: cfg.memoryBytes,
    modelSources: cfg.modelSources,
    hfEndpoint: cfg.hfEndpoint,
    diskCacheBytes: cfg.diskCacheBytes,
    gpu: gpus ? 'auto' : false,
    ...(nvmlLibrary ? { nvmlLibrary } : {}),
  }, { logger: log });
}
