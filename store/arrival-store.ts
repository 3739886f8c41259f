/**
 * Writes the per-model arrival history (protocol/arrivals.ts describes the hash and the pure rule;
 * store/scripts/arrivals-record.lua is its update in Redis).
 */
import type { RedisClient } from './redis-client.ts';
import type { Keys } from '../protocol/keys.ts';
import { Scripts } from './scripts/registry.ts';
import {
  ARRIVAL_BUCKET_BASE_MS,
  ARRIVAL_BUCKETS,
  ARRIVAL_HISTOGRAM_CAP,
  ARRIVAL_RATE_TAU_MS,
  ARRIVAL_TTL_MS,
} from '../protocol/arrivals.ts';

/** Records accepted jobs for `model` at the given times (oldest first) in one atomic round trip. */
export async function recordArrivals(redis: RedisClient, keys: Keys, model: string, times: readonly number[]): Promise<void> {
  if (times.length === 0) return;
  await Scripts.for(redis).arrivalsRecord({
    arrivals: keys.modelArrivals(model),
    rateTauMs: ARRIVAL_RATE_TAU_MS,
    bucketBaseMs: ARRIVAL_BUCKET_BASE_MS,
    buckets: ARRIVAL_BUCKETS,
    histogramCap: ARRIVAL_HISTOGRAM_CAP,
    ttlMs: ARRIVAL_TTL_MS,
    times,
  });
}

/** Records one accepted job for `model` at `now` in one atomic round trip. */
export async function recordArrival(redis: RedisClient, keys: Keys, model: string, now: number = Date.now()): Promise<void> {
  await recordArrivals(redis, keys, model, [now]);
}
