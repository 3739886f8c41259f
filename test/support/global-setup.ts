/** Vitest global setup: one private Redis for the whole run, handed to tests as TEST_REDIS_URL. */
import type { TestProject } from 'vitest/node';
import { startPrivateRedis, type PrivateRedis } from './redis-server.js';

let redis: PrivateRedis | undefined;

export async function setup(project: TestProject): Promise<void> {
  redis = await startPrivateRedis();
  project.provide('redisUrl', redis.url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
