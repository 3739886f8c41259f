/**
 * For the one-command start: use the Redis at REDIS_URL if one answers; otherwise, when
 * `redis-server` is on the PATH, start a private one (data under .fabric/redis) and say so.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import type { Logger } from '../protocol/logger.js';

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

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer().once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
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
  const port = await freePort();
  const dir = resolve('.fabric/redis');
  mkdirSync(dir, { recursive: true });
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  const privateUrl = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && !(await answers(privateUrl)); i++) await new Promise((r) => setTimeout(r, 100));
  log.warn({ redisUrl: privateUrl, dataDir: dir, unreachable: url }, 'No Redis answered at REDIS_URL: started a private redis-server for this run');
  return { url: privateUrl, child };
}
