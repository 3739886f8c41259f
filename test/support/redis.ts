/** Per-test Redis access: the run's private server and a fresh key namespace per test. */
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { Redis } from 'ioredis';
import { createKeys, type Keys } from '../../protocol/keys.ts';

export function redisUrl(): string {
  return inject('redisUrl');
}

export function newRedis(): Redis {
  return new Redis(redisUrl(), { maxRetriesPerRequest: null });
}

/** KEYS pattern of every job's keys (record, events, deliveries) in `keys`' namespace, whatever their tag. */
export function jobKeysPattern(keys: Keys): string {
  return `${keys.prefix}:{*}:job:*`;
}

/** A key namespace no other test shares. */
export function testKeys(): Keys {
  return createKeys(`test-${randomUUID().slice(0, 8)}`);
}
