/**
 * Gathers the API's accepted-job arrivals per model and records them together (one script per
 * model per interval, see protocol/arrivals.ts), off the request path. The scheduler reads
 * arrival history on its own tick, so a few milliseconds of delay change nothing it decides.
 */
import type { RedisClient } from '../../store/redis-client.ts';
import { recordArrivals } from '../../store/arrival-store.ts';
import type { Keys } from '../../protocol/keys.ts';
import type { Logger } from '../../protocol/logger.ts';

/** Longest an arrival waits before it is written. */
const ARRIVAL_BATCH_MS = 20;

export class ArrivalBatcher {
  private pending = new Map<string, number[]>();
  private timer: NodeJS.Timeout | null = null;

  private readonly redis: RedisClient;
  private readonly keys: Keys;
  private readonly log: Logger;
  constructor(
    redis: RedisClient,
    keys: Keys,
    log: Logger,
  ) {
    this.redis = redis;
    this.keys = keys;
    this.log = log;
  }

  record(model: string, at: number): void {
    const list = this.pending.get(model);
    if (list) list.push(at);
    else this.pending.set(model, [at]);
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), ARRIVAL_BATCH_MS);
      this.timer.unref();
    }
  }

  /** Writes what is pending; losing an arrival is harmless (a hint for pre-warm), so errors are logged only. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = new Map();
    await Promise.all(
      [...batch].map(([model, times]) =>
        recordArrivals(this.redis, this.keys, model, times.sort((a, b) => a - b)).catch((err) => this.log.warn({ err, model }, 'Arrival record failed')),
      ),
    );
  }
}
