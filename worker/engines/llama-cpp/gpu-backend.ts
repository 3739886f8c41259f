/**
 * Which node-llama-cpp GPU backend the embedded engine asks for. With GPUs, 'auto' tries CUDA
 * first; but the prebuilt CUDA backend (pinned node-llama-cpp 3.21.1) carries machine code for
 * some GPU architectures only, and for the others PTX that only a new enough driver compiles.
 * On such a GPU CUDA loads, models load, and the first generation aborts the whole process
 * inside ggml (seen on an NVIDIA H200 with driver 580 / CUDA 13.0: docs/llama-gpu-check.md).
 * So the engine checks the fit first (worker/gpu/cuda-backend.ts) and, when CUDA cannot run,
 * asks for any other backend (Vulkan where its loader and driver are there, else the CPU).
 */
import type { CudaFit } from '../../gpu/cuda-backend.ts';

export type LlamaGpuRequest = false | 'auto' | { type: 'auto'; exclude: ['cuda'] };

/** Pure: the backend request for an engine configured with `gpu`, given the CUDA backend's fit (null: not installed). */
export function llamaGpuRequest(gpu: false | 'auto', fit: CudaFit | null): LlamaGpuRequest {
  if (gpu === false) return false;
  return fit?.verdict === 'unsupported' ? { type: 'auto', exclude: ['cuda'] } : 'auto';
}
