/**
 * Starting llama.cpp (node-llama-cpp's `getLlama`) for the engine: the GPU backend this machine
 * can run (CUDA only where the driver fits the build, else Vulkan or the CPU), prebuilt binaries
 * only, the configured CPU threads, and its logs through the engine's logger; and the GPU it
 * chose, as the engine's capacity reports it.
 */
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';
import type { Logger } from '../../../protocol/logger.ts';
import { cudaBackendFit } from '../../gpu/cuda-backend.ts';
import type { EngineCapacity } from '../port/engine.ts';
import type { LlamaCppEngineOptions } from './engine-options.ts';
import { llamaGpuRequest } from './gpu-backend.ts';

export async function startLlama(options: Pick<LlamaCppEngineOptions, 'gpu' | 'nvmlLibrary' | 'threads'>, log: Logger): Promise<Llama> {
  const fit = options.gpu === false ? null : await cudaBackendFit(options.nvmlLibrary);
  const gpu = llamaGpuRequest(options.gpu, fit);
  if (typeof gpu === 'object') log.warn({ reason: fit?.reason }, 'llama.cpp: the CUDA backend cannot run on this GPU with this driver; using Vulkan if it is there, else the CPU');
  const llama = await getLlama({
    gpu,
    build: 'never', // prebuilt binaries only: never compile or download at run time
    maxThreads: options.threads,
    progressLogs: false,
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => log.warn({ level, message: message.trim() }, 'llama.cpp'),
  });
  log.info({ backend: llama.gpu, cudaFit: fit?.verdict ?? null }, 'llama.cpp started');
  return llama;
}

/** The GPU llama.cpp runs on, with its memory now; none on the CPU. */
export async function llamaGpus(llama: Llama): Promise<EngineCapacity['gpus']> {
  if (llama.gpu === false) return [];
  const [vram, names] = await Promise.all([llama.getVramState(), llama.getGpuDeviceNames()]);
  return [
    {
      index: 0,
      uuid: `${llama.gpu}-0`,
      name: names.join(', ') || String(llama.gpu),
      memoryTotalBytes: vram.total,
      memoryUsedBytes: vram.used,
      memoryFreeBytes: vram.free,
      utilization: null,
    },
  ];
}
