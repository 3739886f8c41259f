/**
 * The GPU reader's environment variables, for the worker's config module to call:
 * FABRIC_GPU_READER (auto | nvml | nvidia-smi | none), FABRIC_NVML_LIBRARY, FABRIC_NVIDIA_SMI,
 * FABRIC_NVIDIA_SMI_TIMEOUT.
 */
import { ConfigError, envDurationMs, envString, type Env } from '../../protocol/env.ts';
import type { GpuReaderMode, GpuReaderOptions } from './gpu-reader.ts';
import { DEFAULT_NVML_LIBRARY } from './nvml.ts';

const MODES: readonly GpuReaderMode[] = ['auto', 'nvml', 'nvidia-smi', 'none'];

export function gpuReaderOptionsFromEnv(env: Env): Omit<GpuReaderOptions, 'logger'> {
  const mode = envString(env, 'FABRIC_GPU_READER', 'auto');
  if (!(MODES as readonly string[]).includes(mode)) {
    throw new ConfigError(`FABRIC_GPU_READER must be one of ${MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  }
  return {
    mode: mode as GpuReaderMode,
    nvml: { libraryPath: envString(env, 'FABRIC_NVML_LIBRARY', DEFAULT_NVML_LIBRARY) },
    nvidiaSmi: {
      command: envString(env, 'FABRIC_NVIDIA_SMI', 'nvidia-smi'),
      timeoutMs: envDurationMs(env, 'FABRIC_NVIDIA_SMI_TIMEOUT', 5000),
    },
  };
}
