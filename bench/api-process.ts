/**
 * The API deployable as processes of its own (`producer-api/main.ts`, as `npm run api` runs it),
 * with `FABRIC_API_PROCESSES` = N: for the throughput phase that measures what several API
 * processes on one host give. Configured only through its environment, like the split worker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../bin/redis-server.ts';
import { procCpuSeconds } from './proc-cpu.ts';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const API_ENTRY = fileURLToPath(new URL('../producer-api/main.ts', import.meta.url));
const READY_TIMEOUT_MS = 90_000;

export interface ApiProcesses {
  url: string;
  /** CPU seconds of the primary and every API process so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').map(Number).filter((n) => n > 0);
  } catch {
    return [];
  }
}

export async function startApiProcesses(o: { redisUrl: string; prefix: string; processes: number; maxBacklog: number }): Promise<ApiProcesses> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FABRIC_') && k !== 'REDIS_URL' && k !== 'LOG_LEVEL' && k !== 'PORT') env[k] = v;
  const child: ChildProcess = spawn(process.execPath, [API_ENTRY], {
    cwd: REPO_ROOT,
    env: { ...env, REDIS_URL: o.redisUrl, FABRIC_PREFIX: o.prefix, PORT: String(port), HOST: '127.0.0.1', FABRIC_API_PROCESSES: String(o.processes), FABRIC_MAX_BACKLOG: String(o.maxBacklog), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr!.on('data', (b: Buffer) => (tail = (tail + b.toString()).slice(-2000)));
  const url = `http://127.0.0.1:${port}`;
  const pids = () => (o.processes > 1 ? childPids(child.pid!) : []);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (ok && (o.processes === 1 || pids().length === o.processes)) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`API process(es) did not start: ${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const all = [child.pid!, ...pids()];
  // Children that exit are no longer readable in /proc: keep the last reading of each.
  const last = new Map<number, number>();
  return {
    url,
    cpuSeconds() {
      let sum = 0;
      for (const pid of all) {
        const v = procCpuSeconds(pid) || (last.get(pid) ?? 0);
        last.set(pid, v);
        sum += v;
      }
      return sum;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(t);
    },
  };
}
