/**
 * A private, non-persistent redis-server for one bench run, on a free port: the bench never
 * touches a shared Redis, and it can FLUSHALL between phases and read the server's CPU time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';

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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function waitReady(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server did not start within 10 s')), 10_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with code ${code}`));
    });
    child.stdout!.on('data', (buf: Buffer) => {
      if (buf.toString().includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fabric-bench-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--maxmemory-policy', 'noeviction'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await waitReady(child);
  child.removeAllListeners('exit');
  child.stdout!.resume();
  child.stderr!.resume();
  const url = `redis://127.0.0.1:${port}`;
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
    cpuSeconds() {
      try {
        // Fields 14 and 15 of /proc/<pid>/stat: utime and stime in clock ticks (100 Hz on Linux).
        const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return (Number(fields[11]) + Number(fields[12])) / 100;
      } catch {
        return 0;
      }
    },
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
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
