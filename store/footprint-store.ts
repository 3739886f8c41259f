/** Measured footprints in Redis (protocol/footprints.ts holds their schema and field names). */
import type { RedisClient } from './redis-client.ts';
import type { Keys } from '../protocol/keys.ts';
import { footprintKey, measuredFootprintSchema, type MeasuredFootprint } from '../protocol/footprints.ts';
import { parseJsonAs } from '../protocol/parse-json.ts';

/** Measured footprints in one Redis hash, field `footprintKey(engine, model)`. */
export class FootprintStore {
  private readonly redis: RedisClient;
  private readonly keys: Keys;
  constructor(redis: RedisClient, keys: Keys) {
    this.redis = redis;
    this.keys = keys;
  }

  async get(engine: string, model: string): Promise<MeasuredFootprint | null> {
    const raw = await this.redis.hget(this.keys.footprints(), footprintKey(engine, model));
    return raw ? parseJsonAs(measuredFootprintSchema, raw) : null;
  }

  async record(f: MeasuredFootprint): Promise<void> {
    await this.redis.hset(this.keys.footprints(), footprintKey(f.engine, f.model), JSON.stringify(f));
  }

  async all(): Promise<MeasuredFootprint[]> {
    return Object.values(await this.redis.hgetall(this.keys.footprints()))
      .map((v) => parseJsonAs(measuredFootprintSchema, v))
      .filter((f): f is MeasuredFootprint => f !== null);
  }
}
