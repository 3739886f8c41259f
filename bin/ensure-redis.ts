/**
 * For the one-command start: use the Redis at REDIS_URL if one answers; otherwise, when
 * `redis-server` is on the PATH, start a private one (data under .fabric/redis) and say so.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { Logger } from '../protocol/logger.js';
import { startRedisServer } from './redis-server.js';

async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1500 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export interface EnsuredRedis {
  url: string;
  child: ChildProcess | null;
}

export async function ensureRedis(url: string, log: Logger): Promise<EnsuredRedis> {
  if (await answers(url)) return { url, child: null };
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    log.fatal({ redisUrl: url }, 'No Redis answers at REDIS_URL and redis-server is not installed. Install Redis (e.g. apt-get install redis-server, brew install redis) or point REDIS_URL at one.');
    process.exit(1);
  }
  const dir = resolve('.fabric/redis');
  mkdirSync(dir, { recursive: true });
  const server = await startRedisServer({ dir, persistent: true });
  const privateUrl = server.url;
  const child = server.child;
  log.warn({ redisUrl: privateUrl, dataDir: dir, unreachable: url }, 'No Redis answered at REDIS_URL: started a private redis-server for this run');
  return { url: privateUrl, child };
}
