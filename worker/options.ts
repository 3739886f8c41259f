/** The worker's one options type, with defaults merged in one place. */
import { hostname } from 'node:os';
import { DEFAULT_VRAM_HEADROOM } from '../protocol/vram-rule.js';
import { QUEUE_SETTINGS_DEFAULTS, type QueueSettings } from '../protocol/queue-settings.js';

export interface WorkerNodeOptions {
  workerId: string;
  /** Models to load at start. */
  preload: string[];
  heartbeatIntervalMs: number;
  /** Heartbeat key lifetime; a worker silent this long is considered gone. */
  heartbeatTtlMs: number;
  /** How often the engine's own list of resident models is compared with ours. */
  residencyCheckMs: number;
  /** How long a drain waits for active jobs before aborting them (they are re-queued). */
  drainTimeoutMs: number;
  /** Share of total memory a load must leave free (FABRIC_VRAM_HEADROOM); published in the heartbeat for the API and scheduler. */
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
    preload: partial.preload ?? [],
    heartbeatIntervalMs,
    heartbeatTtlMs: partial.heartbeatTtlMs ?? heartbeatIntervalMs * 3,
    residencyCheckMs: partial.residencyCheckMs ?? 10_000,
    drainTimeoutMs: partial.drainTimeoutMs ?? 60_000,
    vramHeadroomRatio: partial.vramHeadroomRatio ?? DEFAULT_VRAM_HEADROOM,
    queue: { ...QUEUE_SETTINGS_DEFAULTS, ...partial.queue },
  };
}
