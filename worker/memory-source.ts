/**
 * What bounds a worker's loads: its GPUs, read per call from NVML / nvidia-smi (or the engine's
 * own report when no reader is given), else the memory the engine was configured with.
 */
import type { Logger } from '../protocol/logger.ts';
import type { GpuInfo } from '../protocol/worker-state.ts';
import type { Engine } from './engines/port/engine.ts';
import type { MemoryPort } from './residency.ts';

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export interface MemorySourceDeps {
  engine: Engine;
  /** Per-GPU truth (NVML or nvidia-smi); without it the engine's own capacity report is used. */
  gpus?: { read(): Promise<GpuInfo[]> };
  log: Logger;
  /** Memory the engine was configured with, for a worker without GPUs. */
  configuredBytes: () => number;
}

export class MemorySource {
  private last: GpuInfo[] = [];
  private readonly d: MemorySourceDeps;

  constructor(deps: MemorySourceDeps) {
    this.d = deps;
  }

  /** The GPUs as last read (empty before the first read or without GPUs). */
  get latest(): GpuInfo[] {
    return this.last;
  }

  /** Reads the GPUs again; a failed read keeps the last answer. */
  async read(): Promise<GpuInfo[]> {
    try {
      this.last = this.d.gpus ? await this.d.gpus.read() : (await this.d.engine.capacity()).gpus;
    } catch (err) {
      this.d.log.warn({ err }, 'Reading GPUs failed');
    }
    return this.last;
  }

  /** GPUs (when the reader finds any) bound what loads; otherwise the configured capacity does. */
  port(): MemoryPort {
    return {
      state: async (residentBytes) => {
        const gpus = await this.read();
        if (gpus.length > 0) {
          return { source: 'gpu', totalBytes: sum(gpus.map((g) => g.memoryTotalBytes)), freeBytes: sum(gpus.map((g) => g.memoryFreeBytes)) };
        }
        const total = this.d.configuredBytes();
        return { source: 'configured', totalBytes: total, freeBytes: total - residentBytes };
      },
      gpuUsedBytes: async () => {
        const gpus = await this.read();
        return gpus.length > 0 ? sum(gpus.map((g) => g.memoryUsedBytes)) : null;
      },
    };
  }
}
