/**
 * A private, non-persistent redis-server for one bench run, on a free port: the bench never
 * touches a shared Redis, and it can FLUSHALL between phases and read the server's CPU time.
 */
import { startRedisServer } from '../bin/redis-server.ts';
import { Redis, type RedisOptions } from 'ioredis';
import { procCpuSeconds } from './proc-cpu.ts';

export interface PrivateRedis {
  url: string;
  port: number;
  version: string;
  /** A new connection, configured as the fabric's own (maxRetriesPerRequest: null) plus `extra`. */
  connect(extra?: RedisOptions): Redis;
  /** Drops every key: phases start from an empty server. */
  flush(): Promise<void>;
  /** User+system CPU seconds the server has used so far (Linux /proc; 0 elsewhere). */
  cpuSeconds(): number;
  /** Calls per command since start (INFO commandstats). */
  commandCounts(): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const server = await startRedisServer();
  const { port, child } = server;
  const url = server.url;
  const admin = new Redis(url, { maxRetriesPerRequest: null });
  const info = await admin.info('server');
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  let stopped = false;

  return {
    url,
    port,
    version,
    connect: (extra = {}) => new Redis(url, { maxRetriesPerRequest: null, ...extra }),
    async flush() {
      await admin.flushall();
    },
    cpuSeconds: () => procCpuSeconds(child.pid),
    async commandCounts() {
      const text = await admin.info('commandstats');
      const out = new Map<string, number>();
      for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
      return out;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      admin.disconnect();
      await server.stop();
    },
  };
}
