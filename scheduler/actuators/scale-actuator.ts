/**
 * The port through which scale decisions leave the scheduler, with what every actuator shares:
 * the worker-count clamp, the `fabric_desired_workers` gauge and one error type that says
 * whether a retry can help. Actuators: log (default), kubernetes, metric (`./actuators/`).
 */
import { Gauge } from 'prom-client';
import { ConfigError } from '../../protocol/env.ts';
import { checkBounds } from '../../protocol/options-check.ts';
import type { Logger } from '../../protocol/logger.ts';
import { registry } from '../../protocol/metrics.ts';

export interface ScaleActuator {
  /**
   * Asks for `desiredWorkers` workers (in `target.pool` when given); called on every decision
   * that wants a change, so it must be idempotent. `target.release` names the drained worker a
   * scale-down should remove (actuators that cannot choose ignore it).
   */
  apply(desiredWorkers: number, reason: string, target?: ScaleTarget): Promise<void>;
  /** False when applying changes no worker count (it only reports): the scheduler then drains no worker. Absent: it does. */
  readonly removesWorkers?: boolean;
}

/** The drained worker a scale-down removes; `host` is its pod name in Kubernetes. */
export interface ReleaseTarget {
  readonly worker: string;
  readonly host: string;
}

export interface ScaleTarget {
  readonly pool?: string;
  readonly release?: ReleaseTarget;
}

/** Bounds every actuator applies to the policy's wish. */
export interface WorkerLimits {
  minWorkers: number;
  maxWorkers: number;
}

export const WORKER_LIMIT_DEFAULTS: Readonly<WorkerLimits> = Object.freeze({ minWorkers: 1, maxWorkers: 10 });

/** Merges `input` over the defaults and validates it. */
export function workerLimits(input: Partial<WorkerLimits> = {}): WorkerLimits {
  const l = { minWorkers: input.minWorkers ?? WORKER_LIMIT_DEFAULTS.minWorkers, maxWorkers: input.maxWorkers ?? WORKER_LIMIT_DEFAULTS.maxWorkers };
  checkBounds('scale', l, { minWorkers: { min: 0, int: true, env: 'FABRIC_MIN_WORKERS' } });
  if (!Number.isInteger(l.maxWorkers) || l.maxWorkers < l.minWorkers || l.maxWorkers < 1) {
    throw new ConfigError(`maxWorkers must be an integer >= max(1, minWorkers), got ${l.maxWorkers} (minWorkers ${l.minWorkers})`);
  }
  return l;
}

export function clampWorkers(desired: number, l: WorkerLimits): number {
  return Math.min(l.maxWorkers, Math.max(l.minWorkers, Math.round(desired)));
}

/**
 * The worker count the scheduler last asked for, by actuator. Labelled so that nothing is
 * exported before the first decision: a scraper (KEDA's prometheus scaler, an HPA adapter)
 * then sees no value and keeps the current size instead of reading a misleading 0.
 */
export const desiredWorkersGauge = new Gauge({
  name: 'fabric_desired_workers',
  help: 'Workers the scheduler last asked for (after the min/max clamp), by actuator',
  labelNames: ['actuator'] as const,
  registers: [registry],
});

export type ScaleErrorCode = 'unauthorized' | 'forbidden' | 'not_found' | 'conflict' | 'invalid' | 'unavailable';

/** An actuator failure; `retryable` says whether the same call may succeed later unchanged. */
export class ScaleActuatorError extends Error {
  readonly code: ScaleErrorCode;
  readonly retryable: boolean;
  readonly status?: number;
  constructor(
    code: ScaleErrorCode,
    message: string,
    retryable: boolean,
    status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.retryable = retryable;
    this.status = status;
    this.name = 'ScaleActuatorError';
  }
}

/** Logs the suggestion; repeats of the same one are logged at most once per `repeatMs`. */
export class LogScaleActuator implements ScaleActuator {
  /** It only logs: a worker it was asked to release would stay up, drained and empty. */
  readonly removesWorkers = false;
  private last: { desiredWorkers: number; reason: string; pool: string; at: number } | null = null;

  private readonly log: Logger;
  private readonly repeatMs: number;
  private readonly clock: () => number;
  constructor(
    log: Logger,
    repeatMs = 60_000,
    clock: () => number = Date.now,
  ) {
    this.log = log;
    this.repeatMs = repeatMs;
    this.clock = clock;
  }

  async apply(desiredWorkers: number, reason: string, target: ScaleTarget = {}): Promise<void> {
    const pool = target.pool ?? '';
    desiredWorkersGauge.set({ actuator: 'log' }, desiredWorkers);
    const now = this.clock();
    const l = this.last;
    if (l && l.desiredWorkers === desiredWorkers && l.reason === reason && l.pool === pool && now - l.at < this.repeatMs) return;
    this.last = { desiredWorkers, reason, pool, at: now };
    this.log.info({ desiredWorkers, reason, actuator: 'log', ...(target.pool ? { pool: target.pool } : {}), ...(target.release ? { release: target.release.worker } : {}) }, 'Scale suggested');
  }
}
