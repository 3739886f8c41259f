/**
 * What a worker publishes about itself (heartbeat) and the models it can serve (catalog entry),
 * written once as schemas: the types come from them and every reader validates against them
 * (protocol/fleet.ts).
 */
import { z } from 'zod';
import { hostCacheSchema } from './host-cache.ts';

const bytes = z.number().finite().nonnegative();
const epochMs = z.number().finite();

export const gpuInfoSchema = z.object({
  index: z.number().int(),
  uuid: z.string(),
  name: z.string(),
  memoryTotalBytes: bytes,
  memoryUsedBytes: bytes,
  memoryFreeBytes: bytes,
  utilization: z.number().nullable(),
});
export type GpuInfo = z.infer<typeof gpuInfoSchema>;

export const residentModelSchema = z.object({
  model: z.string(),
  sizeBytes: bytes,
  /** Bytes of that size held in VRAM (0 on a CPU engine). */
  sizeVramBytes: bytes,
  /** The ledger's estimate before the load; `sizeBytes` is what the load measured. */
  estimatedBytes: bytes,
  loadedAt: epochMs,
  lastUsedAt: epochMs,
  activeJobs: z.number().int().nonnegative(),
  /** Context per slot the engine loaded it with, when the engine says (Ollama's /api/ps `context_length`). */
  contextLength: z.number().int().positive().optional(),
});
export type ResidentModelInfo = z.infer<typeof residentModelSchema>;

export const loadingModelSchema = z.object({
  model: z.string(),
  startedAt: epochMs,
  /** Bytes reserved for it by the VRAM ledger while it loads. */
  reservedBytes: bytes,
});
export type LoadingModelInfo = z.infer<typeof loadingModelSchema>;

export const WORKER_LIFECYCLES = ['starting', 'running', 'draining', 'stopped'] as const;
export type WorkerLifecycle = (typeof WORKER_LIFECYCLES)[number];

export const heartbeatSchema = z.object({
  workerId: z.string().min(1),
  engine: z.string(),
  /** The worker pool (GPU class) it belongs to (FABRIC_WORKER_POOL); absent: the one default pool. */
  pool: z.string().min(1).optional(),
  host: z.string(),
  pid: z.number().int(),
  state: z.enum(WORKER_LIFECYCLES),
  /** Set while draining on the scheduler's command (scale-down), not for a shutdown: it waits to be released. */
  drainedForScaleDown: z.boolean().optional(),
  startedAt: epochMs,
  at: epochMs,
  /** Memory the engine may fill with models (VRAM, or configured RAM for CPU engines). */
  capacityBytes: bytes,
  usedBytes: bytes,
  gpus: z.array(gpuInfoSchema),
  slotsPerModel: z.number().int().nonnegative(),
  resident: z.array(residentModelSchema),
  loading: z.array(loadingModelSchema),
  activeJobs: z.number().int().nonnegative(),
  freeSlots: z.number().int(),
  /** False while the engine does not answer: the worker takes no jobs then. */
  engineHealthy: z.boolean(),
  /**
   * Share of its capacity this worker keeps free (its FABRIC_VRAM_HEADROOM): the API and the
   * scheduler plan loads onto it with this figure, so the three never disagree.
   */
  headroomRatio: z.number().min(0).max(0.99),
  lastUsedAt: epochMs,
  /** Model files in its host's page cache (protocol/host-cache.ts); absent: not measured. */
  hostCache: hostCacheSchema.optional(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** Entry in the catalog hash: a model some engine can serve. */
export const catalogEntrySchema = z.object({
  name: z.string().min(1),
  sizeBytes: bytes,
  engine: z.string(),
  family: z.string().nullable(),
  parameterSize: z.string().nullable(),
  quantization: z.string().nullable(),
  digest: z.string().nullable(),
  modifiedAt: z.string(),
  /** Context the engine loads the model with (what a prompt must fit), not the file's trained maximum. */
  contextLength: z.number().int().positive().nullable(),
  /** The model file's trained maximum context; absent in entries published before it existed. */
  trainedContextLength: z.number().int().positive().nullable().optional(),
  /** The VRAM ledger's estimate for loading it on this engine (weights + KV cache + overhead). */
  estimatedBytes: bytes.nullable(),
});
export type CatalogEntry = z.infer<typeof catalogEntrySchema>;
