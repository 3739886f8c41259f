/**
 * Starts a private redis-server on a free loopback port: for the test run, the benchmark and
 * `npm start` when no Redis answers. One implementation, so all three start Redis alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
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

export interface PrivateRedisServer {
  url: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface PrivateRedisOptions {
  /** Data folder; a temporary one (removed on stop) when absent. */
  dir?: string;
  /** Append-only persistence (for `npm start`); tests and the bench run without. */
  persistent?: boolean;
  /** A fixed port (to restart a server where its clients expect it); a free one when absent. */
  port?: number;
  /**
   * When the append-only file is fsynced: Redis's `everysec` when absent (a write acknowledged in
   * the last second or two before the process dies may be lost), `always` before every reply.
   */
  appendfsync?: 'always' | 'everysec';
}

export async function startRedisServer(opts: PrivateRedisOptions = {}): Promise<PrivateRedisServer> {
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'fabric-redis-'));
  const child = spawn(
    'redis-server',
    [
      ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', opts.persistent ? 'yes' : 'no', '--dir', dir, '--maxmemory-policy', 'noeviction'],
      ...(opts.appendfsync ? ['--appendfsync', opts.appendfsync] : []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server did not start within 10 s')), 10_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`redis-server exited with code ${code}`)));
    child.stdout!.on('data', (buf: Buffer) => {
      if (buf.toString().includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.removeAllListeners('exit');
  child.stdout!.resume();
  child.stderr!.resume();
  let stopped = false;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    child,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
