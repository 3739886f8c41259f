/**
 * BullMQ settings shared by the producer and the workers. Stalled-job recovery is tuned so a
 * killed worker's job is picked up elsewhere within about 10-15 s: its lock lapses after
 * `lockDurationMs` and the next stalled check (every `stalledIntervalMs`) moves it back.
 */
export interface QueueSettings {
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  /** Attempts per job for retryable failures (engine busy, out of memory, worker shutdown). */
  attempts: number;
  backoffMs: number;
  /** Finished BullMQ jobs kept for Bull Board; the fabric's own record is the source of truth. */
  keepCompletedSec: number;
  keepCompletedCount: number;
  keepFailedSec: number;
}

export const QUEUE_SETTINGS_DEFAULTS: QueueSettings = {
  lockDurationMs: 5_000,
  stalledIntervalMs: 5_000,
  maxStalledCount: 2,
  attempts: 3,
  backoffMs: 1_000,
  keepCompletedSec: 3600,
  keepCompletedCount: 1000,
  keepFailedSec: 24 * 3600,
};
