/** What a worker publishes about itself (heartbeat) and the commands it takes (control stream). */

export interface GpuInfo {
  index: number;
  uuid: string;
  name: string;
  memoryTotalBytes: number;
  memoryUsedBytes: number;
  memoryFreeBytes: number;
  utilization: number | null;
}

export interface ResidentModelInfo {
  model: string;
  sizeBytes: number;
  /** Bytes of that size held in VRAM (0 on a CPU engine). */
  sizeVramBytes: number;
  /** The ledger's estimate before the load; `sizeBytes` is what the load measured. */
  estimatedBytes: number;
  loadedAt: number;
  lastUsedAt: number;
  activeJobs: number;
}

export interface LoadingModelInfo {
  model: string;
  startedAt: number;
  /** Bytes reserved for it by the VRAM ledger while it loads. */
  reservedBytes: number;
}

export type WorkerLifecycle = 'starting' | 'running' | 'draining' | 'stopped';

export interface Heartbeat {
  workerId: string;
  engine: string;
  /** The worker pool (GPU class) it belongs to (FABRIC_WORKER_POOL); absent: the one default pool. */
  pool?: string;
  host: string;
  pid: number;
  state: WorkerLifecycle;
  /** Set while draining on the scheduler's command (scale-down), not for a shutdown: it waits to be released. */
  drainedForScaleDown?: boolean;
  startedAt: number;
  at: number;
  /** Memory the engine may fill with models (VRAM, or configured RAM for CPU engines). */
  capacityBytes: number;
  usedBytes: number;
  gpus: GpuInfo[];
  slotsPerModel: number;
  resident: ResidentModelInfo[];
  loading: LoadingModelInfo[];
  activeJobs: number;
  freeSlots: number;
  /** False while the engine does not answer: the worker takes no jobs then. */
  engineHealthy: boolean;
  lastUsedAt: number;
}

export type ControlCommand =
  | { type: 'load'; model: string; requestId: string; at: number }
  | { type: 'unload'; model: string; requestId: string; at: number }
  /** Stop taking jobs, let active ones finish, unload everything and stay empty until released. */
  | { type: 'drain'; requestId: string; at: number };

/** Entry in the catalog hash: a model some engine can serve. */
export interface CatalogEntry {
  name: string;
  sizeBytes: number;
  engine: string;
  family: string | null;
  parameterSize: string | null;
  quantization: string | null;
  digest: string | null;
  modifiedAt: string;
  contextLength: number | null;
  /** The VRAM ledger's estimate for loading it on this engine (weights + KV cache + overhead). */
  estimatedBytes: number | null;
}
