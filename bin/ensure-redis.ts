/**
 * For the one-command start: the Redis at REDIS_URL when it is set (and it must answer), else the
 * default local one if it answers, else a private redis-server started for this run when
 * `redis-server` is on the PATH, keeping its data under .fabric/redis between runs.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from '../protocol/logger.ts';
import { DEFAULT_REDIS_URL, createRedisConnection, parseRedisConnection } from '../store/redis-config.ts';
import { StartupError } from '../protocol/startup.ts';
import { startRedisServer } from './redis-server.ts';

/** Where the private Redis keeps its data (append-only file); delete the folder to start empty. */
export const PRIVATE_REDIS_DIR = '.fabric/redis';

async function answers(url: string, extra: { sentinelPassword?: string } = {}): Promise<boolean> {
  const probe = createRedisConnection(parseRedisConnection(url, extra), 'requests', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, sentinelRetryStrategy: () => null, connectTimeout: 1500 });
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
  /** The private server's data folder, when one was started. */
  dataDir: string | null;
}

/**
 * `explicitUrl`: REDIS_URL as set by the user (undefined or empty: not set); a sentinel group is
 * always the operator's, so only an unset REDIS_URL falls back to a private server.
 */
export async function ensureRedis(explicitUrl: string | undefined, log: Logger, extra: { sentinelPassword?: string } = {}): Promise<EnsuredRedis> {
  if (explicitUrl) {
    parseRedisConnection(explicitUrl, extra);
    if (await answers(explicitUrl, extra)) return { url: explicitUrl, child: null, dataDir: null };
    throw new StartupError(`no Redis answers at ${explicitUrl} (REDIS_URL); start Redis there, or unset REDIS_URL to let npm start run a private one`);
  }
  if (await answers(DEFAULT_REDIS_URL)) return { url: DEFAULT_REDIS_URL, child: null, dataDir: null };
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new StartupError(`no Redis answers at ${DEFAULT_REDIS_URL} and redis-server is not installed; install Redis (apt-get install redis-server, brew install redis) or set REDIS_URL`);
  }
  const dir = resolve(PRIVATE_REDIS_DIR);
  mkdirSync(dir, { recursive: true });
  const server = await startRedisServer({ dir, persistent: true });
  log.warn({ redisUrl: server.url, dataDir: dir }, 'REDIS_URL is not set and no Redis answers locally: started a private redis-server for this run (its data persists in dataDir; delete that folder to start empty)');
  return { url: server.url, child: server.child, dataDir: dir };
}
