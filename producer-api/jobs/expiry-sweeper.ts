/**
 * Expires queued jobs whose deadline (`ttl`) passed even when nobody reads them and no worker
 * picks them up (a model nobody loads): every `intervalMs` one API instance, chosen by a short
 * Redis lease (store/lease.ts), sweeps the deadlines index (JobService.sweepExpired). Expiring is idempotent, so a
 * lost lock or an overlapping reader costs nothing but a repeated read.
 */
import type { RedisClient } from '../../store/redis-client.ts';
import { Lease } from '../../store/lease.ts';
import type { Keys } from '../../protocol/keys.ts';
import type { Logger } from '../../protocol/logger.ts';
import type { JobService } from './job-service.ts';

export interface ExpirySweeperOptions {
  /** How often to sweep (ApiOptions.expirySweepMs); 0 turns the sweeper off. */
  readonly intervalMs: number;
  /** Most due deadlines one pass reads; a full pass runs again at once. */
  readonly batch: number;
}

export class ExpirySweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly lock: Lease;

  private readonly d: { redis: RedisClient; keys: Keys; jobs: Pick<JobService, 'sweepExpired'>; log: Logger };
  private readonly opts: ExpirySweeperOptions;
  constructor(
    d: { redis: RedisClient; keys: Keys; jobs: Pick<JobService, 'sweepExpired'>; log: Logger },
    opts: ExpirySweeperOptions,
  ) {
    this.d = d;
    this.opts = opts;
    this.lock = new Lease(d.redis, d.keys.expirySweepLock());
  }

  start(): void {
    if (this.timer || this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One sweep if this instance gets the lock; resolves when done. Also the test hook. */
  tick(): Promise<void> {
    this.running ??= this.sweep().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async sweep(): Promise<void> {
    const { jobs, log } = this.d;
    try {
      // Held for one interval: the next tick anywhere may sweep again.
      if (!(await this.lock.tryAcquire(Math.max(1_000, this.opts.intervalMs)))) return;
      let total = 0;
      for (;;) {
        const { due, expired } = await jobs.sweepExpired(Date.now(), this.opts.batch);
        total += expired;
        if (due < this.opts.batch) break;
      }
      if (total > 0) log.info({ expired: total }, 'Expired queued jobs past their deadline');
    } catch (err) {
      log.warn({ err }, 'Expiry sweep failed');
    }
  }
}
