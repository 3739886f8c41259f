/**
 * BullMQ settings shared by the producer and the workers. Stalled-job recovery is tuned so a
 * killed worker's job runs again elsewhere within about 5 s (at most lockDurationMs +
 * stalledIntervalMs + a poll): its lock lapses at most `lockDurationMs` after the worker died
 * (locks are renewed every half of it) and the next stalled check of any worker consuming the
 * queue (every `stalledIntervalMs`) moves it back to waiting. A worker that fails to renew a lock
 * aborts that job at once (residency.ts), so a job never runs on two workers for longer than a
 * renewal period even when a live worker stalls past its lock.
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
  lockDurationMs: 3_000,
  stalledIntervalMs: 1_500,
  maxStalledCount: 2,
  attempts: 3,
  backoffMs: 1_000,
  keepCompletedSec: 3600,
  keepCompletedCount: 1000,
  keepFailedSec: 24 * 3600,
};
