/** What a GPU reader reports about one GPU, richer than the heartbeat's `GpuInfo`. */
import type { GpuInfo } from '../../protocol/worker-state.ts';

/** A process holding memory on a GPU (NVML reports host PIDs, so they may not match a container's). */
export interface GpuProcess {
  pid: number;
  /** Null where the driver does not report it (NVML_VALUE_NOT_AVAILABLE, e.g. under WDDM). */
  usedBytes: number | null;
}

export interface GpuSnapshot {
  index: number;
  uuid: string;
  name: string;
  /** Null where the device has no dedicated memory to report (integrated or unified-memory GPUs). */
  memoryTotalBytes: number | null;
  memoryUsedBytes: number | null;
  memoryFreeBytes: number | null;
  /** Share of the last sample period with a kernel running, 0..1; null where not supported. */
  utilization: number | null;
  /** Share of the last sample period with device memory being read or written, 0..1; null where unknown. */
  memoryUtilization: number | null;
  /** Compute processes on the GPU; null where the source cannot list them (no permission, nvidia-smi). */
  processes: GpuProcess[] | null;
}

/** Maps a snapshot onto the heartbeat's shape; unknown memory figures become 0 (nothing to place on). */
export function toGpuInfo(s: GpuSnapshot): GpuInfo {
  return {
    index: s.index,
    uuid: s.uuid,
    name: s.name,
    memoryTotalBytes: s.memoryTotalBytes ?? 0,
    memoryUsedBytes: s.memoryUsedBytes ?? 0,
    memoryFreeBytes: s.memoryFreeBytes ?? 0,
    utilization: s.utilization,
  };
}
