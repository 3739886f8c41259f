/** The worker's one options type, with defaults merged in one place. */
import { hostname } from 'node:os';
import { QUEUE_SETTINGS_DEFAULTS, type QueueSettings } from '../protocol/queue-settings.js';

export interface WorkerNodeOptions {
  workerId: string;
  /** Worker pool (GPU class) it reports in its heartbeat (FABRIC_WORKER_POOL); undefined: the default pool. */
  pool?: string;
  /** Models to load at start. */
  preload: string[];
  heartbeatIntervalMs: number;
  /** Heartbeat key lifetime; a worker silent this long is considered gone. */
  heartbeatTtlMs: number;
  /** How often the engine's own list of resident models is compared with ours. */
  residencyCheckMs: number;
  /** How long a drain waits for active jobs before aborting them (they are re-queued). */
  drainTimeoutMs: number;
  /** Share of total memory a load must leave free (FABRIC_VRAM_HEADROOM). */
  vramHeadroomRatio: number;
  queue: QueueSettings;
}

export function defaultWorkerId(): string {
  return `${hostname()}-${process.pid}`;
}

export function workerOptions(partial: Partial<WorkerNodeOptions> = {}): WorkerNodeOptions {
  const heartbeatIntervalMs = partial.heartbeatIntervalMs ?? 2_000;
  return {
    workerId: partial.workerId ?? defaultWorkerId(),
    ...(partial.pool ? { pool: partial.pool } : {}),
    preload: partial.preload ?? [],
    heartbeatIntervalMs,
    heartbeatTtlMs: partial.heartbeatTtlMs ?? heartbeatIntervalMs * 3,
    residencyCheckMs: partial.residencyCheckMs ?? 10_000,
    drainTimeoutMs: partial.drainTimeoutMs ?? 60_000,
    vramHeadroomRatio: partial.vramHeadroomRatio ?? 0.1,
    queue: { ...QUEUE_SETTINGS_DEFAULTS, ...partial.queue },
  };
}
