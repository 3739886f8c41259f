/**
 * The port through which scale suggestions leave the scheduler. Only a log actuator exists
 * now; a Kubernetes scale-subresource or KEDA-metric actuator plugs in here later.
 */
import type { Logger } from '../protocol/logger.js';

export interface ScaleActuator {
  /** Asks for `desiredWorkers` workers; called on every decision that wants a change, so it must be idempotent. */
  apply(desiredWorkers: number, reason: string): Promise<void>;
}

/** Logs the suggestion; repeats of the same one are logged at most once per `repeatMs`. */
export class LogScaleActuator implements ScaleActuator {
  private last: { desiredWorkers: number; reason: string; at: number } | null = null;

  constructor(
    private readonly log: Logger,
    private readonly repeatMs = 60_000,
    private readonly clock: () => number = Date.now,
  ) {}

  async apply(desiredWorkers: number, reason: string): Promise<void> {
    const now = this.clock();
    const l = this.last;
    if (l && l.desiredWorkers === desiredWorkers && l.reason === reason && now - l.at < this.repeatMs) return;
    this.last = { desiredWorkers, reason, at: now };
    this.log.info({ desiredWorkers, reason, actuator: 'log' }, 'Scale suggested');
  }
}
