/** Settings every deployable shares: where Redis is and the key namespace. */
import { Redis } from 'ioredis';
import { envString, type Env } from './env.js';
import { createKeys, type Keys } from './keys.js';

export interface RedisConfig {
  redisUrl: string;
  prefix: string;
}

export function redisConfigFromEnv(env: Env): RedisConfig {
  return {
    redisUrl: envString(env, 'REDIS_URL', 'redis://127.0.0.1:6379'),
    prefix: envString(env, 'FABRIC_PREFIX', 'fabric'),
  };
}

/** A connection suitable for BullMQ workers too (no per-command retry limit). */
export function connectRedis(cfg: RedisConfig): { redis: Redis; keys: Keys } {
  return { redis: new Redis(cfg.redisUrl, { maxRetriesPerRequest: null }), keys: createKeys(cfg.prefix) };
}
