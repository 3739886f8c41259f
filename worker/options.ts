/** The worker's one options type: defaults written once, merged, validated and frozen up front. */
import { hostname, totalmem } from 'node:os';
import { ConfigError } from '../protocol/env.ts';
import { checkBounds, type Bound } from '../protocol/options-check.ts';
import { QUEUE_SETTINGS_DEFAULTS, type QueueSettings } from '../protocol/queue-settings.ts';
import { DEFAULT_VRAM_HEADROOM } from '../protocol/vram-rule.ts';

export interface WorkerNodeOptions {
  /** Names this worker in heartbeats, control streams and logs (FABRIC_WORKER_ID). @defaultValue `<hostname>-<pid>` */
  readonly workerId: string;
  /** Worker pool (GPU class) it reports in its heartbeat (FABRIC_WORKER_POOL). @defaultValue undefined (the default pool) */
  readonly pool?: string;
  /** Models to load at start (FABRIC_PRELOAD). @defaultValue [] */
  readonly preload: readonly string[];
  /** How often the heartbeat is written (FABRIC_HEARTBEAT_INTERVAL). @defaultValue 2 s */
  readonly heartbeatIntervalMs: number;
  /** Heartbeat key lifetime; a worker silent this long is considered gone. @defaultValue 3 x heartbeatIntervalMs */
  readonly heartbeatTtlMs: number;
  /** How often the engine's own list of resident models is compared with ours. @defaultValue 10 s */
  readonly residencyCheckMs: number;
  /** How long a drain waits for active jobs before aborting them, which re-queues them (FABRIC_DRAIN_TIMEOUT). @defaultValue 1 min */
  readonly drainTimeoutMs: number;
  /** Share of total memory a load must leave free (FABRIC_VRAM_HEADROOM); published in the heartbeat for the API and scheduler. @defaultValue 0.1 */
  readonly vramHeadroomRatio: number;
  /**
   * Lease on a tenant's running slot held for a job here, renewed every third of it while the job
   * runs; a worker that dies gives its slots back after this long (FABRIC_TENANT_SLOT_LEASE). @defaultValue 15 s
   */
  readonly tenantSlotLeaseMs: number;
  /** First wait of a job put back because its tenant is at its running cap; doubles per put-back. @defaultValue 200 ms */
  readonly tenantDeferMinMs: number;
  /** Longest such wait. @defaultValue 2 s */
  readonly tenantDeferMaxMs: number;
  /**
   * Page cache this worker may fill with model files and report to the scheduler as host-tier
   * memory (FABRIC_HOST_CACHE_BYTES); 0 turns the host tier off (no report, no staging).
   * @defaultValue half the host's memory
   */
  readonly hostCacheBytes: number;
  /** How often the page cache of the model files is measured (mincore) for the heartbeat. @defaultValue 10 s */
  readonly hostCacheCheckMs: number;
  /** BullMQ settings shared with the API. @defaultValue QUEUE_SETTINGS_DEFAULTS */
  readonly queue: Readonly<QueueSettings>;
}

export type WorkerNodeOptionsInput = Partial<Omit<WorkerNodeOptions, 'queue'>> & { queue?: Partial<QueueSettings> };

export const WORKER_DEFAULTS = Object.freeze({
  preload: Object.freeze([] as string[]),
  heartbeatIntervalMs: 2_000,
  /** The heartbeat lives this many intervals. */
  heartbeatTtlIntervals: 3,
  residencyCheckMs: 10_000,
  drainTimeoutMs: 60_000,
  vramHeadroomRatio: DEFAULT_VRAM_HEADROOM,
  tenantSlotLeaseMs: 15_000,
  tenantDeferMinMs: 200,
  tenantDeferMaxMs: 2_000,
  hostCacheBytes: Math.floor(totalmem() / 2),
  hostCacheCheckMs: 10_000,
  queue: QUEUE_SETTINGS_DEFAULTS,
});

type NumericKey =
  | 'heartbeatIntervalMs'
  | 'heartbeatTtlMs'
  | 'residencyCheckMs'
  | 'drainTimeoutMs'
  | 'vramHeadroomRatio'
  | 'tenantSlotLeaseMs'
  | 'tenantDeferMinMs'
  | 'tenantDeferMaxMs'
  | 'hostCacheBytes'
  | 'hostCacheCheckMs';

const BOUNDS: Record<NumericKey, Bound> = {
  heartbeatIntervalMs: { min: 10 },
  heartbeatTtlMs: { min: 10 },
  residencyCheckMs: { min: 10 },
  drainTimeoutMs: { min: 0, env: 'FABRIC_DRAIN_TIMEOUT' },
  vramHeadroomRatio: { min: 0, max: 0.99, env: 'FABRIC_VRAM_HEADROOM' },
  tenantSlotLeaseMs: { min: 100, int: true, env: 'FABRIC_TENANT_SLOT_LEASE' },
  tenantDeferMinMs: { min: 1, int: true },
  tenantDeferMaxMs: { min: 1, int: true },
  hostCacheBytes: { min: 0, env: 'FABRIC_HOST_CACHE_BYTES' },
  hostCacheCheckMs: { min: 10 },
};

export function defaultWorkerId(): string {
  return `${hostname()}-${process.pid}`;
}

/** Merges `input` over `WORKER_DEFAULTS`, validates and freezes the result. */
export function workerOptions(input: WorkerNodeOptionsInput = {}): WorkerNodeOptions {
  const heartbeatIntervalMs = input.heartbeatIntervalMs ?? WORKER_DEFAULTS.heartbeatIntervalMs;
  const opts: WorkerNodeOptions = {
    workerId: input.workerId ?? defaultWorkerId(),
    preload: Object.freeze([...(input.preload ?? WORKER_DEFAULTS.preload)]),
    ...(input.pool ? { pool: input.pool } : {}),
    heartbeatIntervalMs,
    heartbeatTtlMs: input.heartbeatTtlMs ?? heartbeatIntervalMs * WORKER_DEFAULTS.heartbeatTtlIntervals,
    residencyCheckMs: input.residencyCheckMs ?? WORKER_DEFAULTS.residencyCheckMs,
    drainTimeoutMs: input.drainTimeoutMs ?? WORKER_DEFAULTS.drainTimeoutMs,
    vramHeadroomRatio: input.vramHeadroomRatio ?? WORKER_DEFAULTS.vramHeadroomRatio,
    tenantSlotLeaseMs: input.tenantSlotLeaseMs ?? WORKER_DEFAULTS.tenantSlotLeaseMs,
    tenantDeferMinMs: input.tenantDeferMinMs ?? WORKER_DEFAULTS.tenantDeferMinMs,
    tenantDeferMaxMs: input.tenantDeferMaxMs ?? WORKER_DEFAULTS.tenantDeferMaxMs,
    hostCacheBytes: input.hostCacheBytes ?? WORKER_DEFAULTS.hostCacheBytes,
    hostCacheCheckMs: input.hostCacheCheckMs ?? WORKER_DEFAULTS.hostCacheCheckMs,
    queue: Object.freeze({ ...WORKER_DEFAULTS.queue, ...input.queue }),
  };
  checkBounds('worker', opts, BOUNDS);
  if (opts.tenantDeferMaxMs < opts.tenantDeferMinMs) throw new ConfigError(`worker tenantDeferMaxMs (${opts.tenantDeferMaxMs}) must be >= tenantDeferMinMs (${opts.tenantDeferMinMs})`);
  return Object.freeze(opts);
}
