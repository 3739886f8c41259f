/** Vitest global setup: one private Redis for the whole run, handed to tests as `redisUrl`. */
import type { TestProject } from 'vitest/node';
import { startRedisServer, type PrivateRedisServer } from '../../bin/redis-server.ts';

let redis: PrivateRedisServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  redis = await startRedisServer();
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
