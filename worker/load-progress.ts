/**
 * Load progress as the jobs waiting for a model see it: a `progress` event (`loading_model`, the
 * pull's figures) on the first 100 jobs in its queue, at most twice a second per model, so
 * clients watching them see a download move.
 */
import type { Keys } from '../protocol/keys.ts';
import type { Logger } from '../protocol/logger.ts';
import type { JobStore } from '../store/job-store.ts';
import { parseBullJobId, queueKeys } from '../store/queue-keys.ts';
import type { RedisClient } from '../store/redis-client.ts';
import type { LoadProgress } from './engines/port/engine.ts';

/** Announcements per model are at least this far apart, except the one that completes. */
const MIN_INTERVAL_MS = 500;
/** How many of the first jobs in line hear of it. */
const WAITING_JOBS = 100;

export class LoadProgressAnnouncer {
  private readonly lastAt = new Map<string, number>();
  private readonly d: { workerId: string; redis: RedisClient; keys: Keys; store: JobStore; log: Logger };

  constructor(deps: { workerId: string; redis: RedisClient; keys: Keys; store: JobStore; log: Logger }) {
    this.d = deps;
  }

  announce(model: string, p: LoadProgress): void {
    const now = Date.now();
    const done = p.total !== undefined && p.completed === p.total;
    if (!done && now - (this.lastAt.get(model) ?? 0) < MIN_INTERVAL_MS) return;
    this.lastAt.set(model, now);
    const { redis, keys, store, log, workerId } = this.d;
    const data = JSON.stringify({ status: 'loading_model', model, worker: workerId, pull: p });
    const q = queueKeys(keys.bullPrefix, model);
    void (async () => {
      const [waiting, prioritized] = await Promise.all([redis.lrange(q.wait, -WAITING_JOBS, -1), redis.zrange(q.prioritized, '0', String(WAITING_JOBS - 1))]);
      const ids = new Set([...waiting, ...prioritized].map((bullId) => parseBullJobId(bullId).id));
      await Promise.all([...ids].map((id) => store.appendEvent(id, 'progress', data)));
    })().catch((err) => log.warn({ model, err }, 'Publishing load progress failed'));
  }
}
