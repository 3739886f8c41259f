/**
 * The scheduler's read of the world: live worker heartbeats, the catalog, measured footprints,
 * operators' holds (store/fleet-reader.ts) and the depth and arrival history of every known model
 * queue, taken in three pipelined round trips into one immutable object.
 * BullMQ keys are read directly (`queueKeys`: wait, prioritized, active) so a snapshot costs
 * no Queue objects and no per-queue connections.
 */
import { crossSlotPipeline, type RedisClient } from '../store/redis-client.ts';
import { arrivalStatsAt, parseArrivalRecord, type ArrivalStats } from '../protocol/arrivals.ts';
import { execOrThrow, readFleet } from '../store/fleet-reader.ts';
import type { OperatorHold } from '../protocol/operator-holds.ts';
import type { Keys } from '../protocol/keys.ts';
import { queueKeys } from '../store/queue-keys.ts';
import type { CatalogEntry, Heartbeat } from '../protocol/worker-state.ts';

export interface QueueDepth {
  /** Jobs not yet started: the wait list plus the prioritized set. */
  readonly waiting: number;
  readonly active: number;
  /**
   * Age of the longest-waiting job among those served next (the wait list's tail and the
   * prioritized set's head); a lower-priority job further back may be older. Null: none waits.
   */
  readonly oldestWaitMs: number | null;
}

export interface Snapshot {
  readonly now: number;
  /** Workers whose heartbeat key has not expired, in any lifecycle state. */
  readonly workers: readonly Heartbeat[];
  readonly catalog: ReadonlyMap<string, CatalogEntry>;
  /** One entry per catalog model (and per extra model asked for), empty queues included. */
  readonly queues: ReadonlyMap<string, QueueDepth>;
  /**
   * Footprints measured at earlier loads (hash `keys.footprints()`), bytes by `<engine> <model>`.
   * They win over the catalog's estimate in the VRAM rule. Absent: none measured (estimates only).
   */
  readonly measured?: ReadonlyMap<string, number>;
  /**
   * Arrival history by model (hash `keys.modelArrivals(model)`, written by the API through
   * `recordArrival`), as of `now`. Drives pre-warm and eviction cost. Absent or missing a model:
   * no history; eviction then falls back on recency (`lastUsedAt`) and nothing is pre-warmed.
   */
  readonly arrivals?: ReadonlyMap<string, ArrivalStats>;
  /**
   * When the last scale change (up or down) was applied, epoch ms, for the scale-down
   * cool-down. Absent: none known (the cool-down then counts only from workers' idle time).
   */
  readonly lastScaleAt?: number;
  /**
   * Load speeds measured per tier (hash `keys.loadSpeeds()`), bytes/s by `<engine> <tier>`
   * (protocol/load-speeds.ts). They win over the policy's assumed speeds. Absent: none measured.
   */
  readonly loadSpeeds?: ReadonlyMap<string, number>;
  /** Operators' holds and pins by model (protocol/operator-holds.ts). Absent: none. */
  readonly holds?: ReadonlyMap<string, OperatorHold>;
}

/** Reads a snapshot at time `now`; `extraModels` adds queues outside the catalog (wake hints). */
export async function readSnapshot(redis: RedisClient, keys: Keys, now: number, extraModels: Iterable<string> = []): Promise<Snapshot> {
  let models: string[] = [];
  // The fleet read's second round trip carries every model's queue and arrival reads.
  const { workers, catalog, measured, holds, loadSpeeds, more: rows } = await readFleet(redis, keys, (p, catalog) => {
    models = [...new Set([...catalog.keys(), ...extraModels])].sort();
    for (const model of models) {
      const q = queueKeys(keys.bullPrefix, model);
      p.llen(q.wait).zcard(q.prioritized).llen(q.active).lindex(q.wait, -1).zrange(q.prioritized, '0', '0');
    }
    for (const model of models) p.hgetall(keys.modelArrivals(model));
  });
  const arrivals = parseArrivals(models, rows.splice(models.length * 5) as Record<string, string>[], now);

  const heads: { model: string; jobIds: string[] }[] = [];
  const counts = models.map((model, i) => {
    const [wait, prioritized, active, waitTail, prioHead] = rows.slice(i * 5, i * 5 + 5) as [number, number, number, string | null, string[]];
    const jobIds = [waitTail, prioHead[0]].filter((id): id is string => typeof id === 'string');
    if (jobIds.length > 0) heads.push({ model, jobIds });
    return { model, waiting: wait + prioritized, active };
  });
  const enqueuedAt = await readEnqueueTimes(redis, keys, heads);

  const queues = new Map<string, QueueDepth>();
  for (const c of counts) {
    const oldest = enqueuedAt.get(c.model);
    queues.set(c.model, Object.freeze({ waiting: c.waiting, active: c.active, oldestWaitMs: c.waiting > 0 && oldest !== undefined ? Math.max(0, now - oldest) : null }));
  }
  return Object.freeze({ now, workers: Object.freeze(workers), catalog, queues, measured, loadSpeeds, arrivals, holds });
}

/** Earliest BullMQ `timestamp` among each model's head jobs; one pipelined HGET per job. */
async function readEnqueueTimes(redis: RedisClient, keys: Keys, heads: { model: string; jobIds: string[] }[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (heads.length === 0) return out;
  const p = crossSlotPipeline(redis);
  for (const h of heads) {
    const q = queueKeys(keys.bullPrefix, h.model);
    for (const id of h.jobIds) p.hget(q.job(id), 'timestamp');
  }
  const rows = (await execOrThrow(p)) as (string | null)[];
  let i = 0;
  for (const h of heads) {
    for (let j = 0; j < h.jobIds.length; j++) {
      const ts = Number(rows[i++]);
      // A job may finish between the two reads; its missing hash simply doesn't count.
      if (Number.isFinite(ts) && ts > 0) out.set(h.model, Math.min(out.get(h.model) ?? Infinity, ts));
    }
  }
  return out;
}


/** Arrival stats as of `now` for each model with a history. */
function parseArrivals(models: string[], raw: Record<string, string>[], now: number): Map<string, ArrivalStats> {
  const out = new Map<string, ArrivalStats>();
  models.forEach((model, i) => {
    const rec = parseArrivalRecord(raw[i] ?? {});
    if (rec) out.set(model, arrivalStatsAt(rec, now));
  });
  return out;
}

