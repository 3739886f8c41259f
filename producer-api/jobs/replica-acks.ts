/**
 * Holding an accepted job's answer until Redis replicas have it (FABRIC_REPLICA_ACKS), so a
 * failover keeps it. WAIT holds the shared connection, so after a short answer (no replica,
 * e.g. just after a failover) the waits pause for a while instead of stalling every request.
 */
import type { Logger } from '../../protocol/logger.ts';
import { waitForReplicas } from '../../store/redis-config.ts';
import type { RedisClient } from '../../store/redis-client.ts';

/** How long submissions stop waiting for replicas after a wait came back short. */
const SHORT_PAUSE_MS = 10_000;

export class ReplicaAcks {
  private shortUntil = 0;
  private readonly d: { redis: RedisClient; log: Logger; acks: number; timeoutMs: number };

  constructor(deps: { redis: RedisClient; log: Logger; acks: number; timeoutMs: number }) {
    this.d = deps;
  }

  /** Resolves once `acks` replicas have the writes so far, the wait timed out, or waits are paused. */
  async await(id: string): Promise<void> {
    const { redis, log, acks, timeoutMs } = this.d;
    if (acks === 0 || Date.now() < this.shortUntil) return;
    const acked = await waitForReplicas(redis, acks, timeoutMs).catch((err: Error) => {
      log.warn({ err, id }, 'Replica acknowledgement wait failed');
      return null;
    });
    if (acked !== null && acked < acks) {
      this.shortUntil = Date.now() + SHORT_PAUSE_MS;
      log.warn({ id, acked, wanted: acks, timeoutMs, pauseMs: SHORT_PAUSE_MS }, 'Job accepted before enough replicas acknowledged it; not waiting for replicas for a while');
    }
  }
}
