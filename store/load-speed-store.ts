/** Load speeds per tier in Redis (protocol/load-speeds.ts holds their schema, field names and averaging). */
import type { RedisClient } from './redis-client.ts';
import type { Keys } from '../protocol/keys.ts';
import type { LoadTier } from '../protocol/host-cache.ts';
import { loadSpeedKey, loadSpeedSchema, nextLoadSpeed, type LoadSpeed } from '../protocol/load-speeds.ts';
import { parseJsonAs } from '../protocol/parse-json.ts';

/** Load speeds in one Redis hash, field `loadSpeedKey(engine, tier)`. */
export class LoadSpeedStore {
  private readonly redis: RedisClient;
  private readonly keys: Keys;
  constructor(redis: RedisClient, keys: Keys) {
    this.redis = redis;
    this.keys = keys;
  }

  async get(engine: string, tier: LoadTier): Promise<LoadSpeed | null> {
    const raw = await this.redis.hget(this.keys.loadSpeeds(), loadSpeedKey(engine, tier));
    return raw ? parseJsonAs(loadSpeedSchema, raw) : null;
  }

  /**
   * Folds one load into its engine's and tier's entry. Read-modify-write: two workers recording
   * the same entry at once keep one of the two loads, which only slows the average down.
   */
  async record(load: { engine: string; tier: LoadTier; bytes: number; ms: number; at: number }): Promise<LoadSpeed | null> {
    const next = nextLoadSpeed(await this.get(load.engine, load.tier), load);
    if (next) await this.redis.hset(this.keys.loadSpeeds(), loadSpeedKey(load.engine, load.tier), JSON.stringify(next));
    return next;
  }

  async all(): Promise<LoadSpeed[]> {
    return Object.values(await this.redis.hgetall(this.keys.loadSpeeds()))
      .map((v) => parseJsonAs(loadSpeedSchema, v))
      .filter((f): f is LoadSpeed => f !== null);
  }
}
