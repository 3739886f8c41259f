/** Per-test Redis access: the run's private server and a fresh key namespace per test. */
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { Redis } from 'ioredis';
import { createKeys, type Keys } from '../../protocol/keys.js';

export function redisUrl(): string {
  return inject('redisUrl');
}

export function newRedis(): Redis {
  return new Redis(redisUrl(), { maxRetriesPerRequest: null });
}

/** A key namespace no other test shares. */
export function testKeys(): Keys {
  return createKeys(`test-${randomUUID().slice(0, 8)}`);
}
