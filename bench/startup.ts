/**
 * Start-up phase: how long `npm start` (API + worker with the embedded llama.cpp engine +
 * scheduler, one process) takes to answer, and the memory it holds. Each run spawns the command
 * as a user would, against the bench's private Redis, on a free port, with the demo models
 * already on disk (an uncounted first run writes them and warms any transform cache), and
 * measures from spawn:
 *   - ready: `GET /readyz` answers 200;
 *   - first job: a `POST /v1/run` chat job on demo-chat (num_predict 4) answered `succeeded`;
 *   - RSS of the whole process tree (npm and every Node process under it) once ready, and after
 *     `jobs` more sequential jobs.
 * Then SIGTERM to the tree; SIGKILL after 10 s.
 *
 *   node bench/startup.ts [--runs N] [--jobs N] [--command "npm start"]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../bin/redis-server.ts';
import { summarize } from './stats.ts';

export interface StartupOptions {
  redisUrl: string;
  runs: number;
  /** Sequential jobs after the first one, before the second memory reading. */
  jobs: number;
  command: string;
  cwd: string;
}

export interface StartupRun {
  readyMs: number;
  firstJobMs: number;
  rssReadyMiB: number;
  rssAfterJobsMiB: number;
}

export interface StartupResult {
  command: string;
  runs: StartupRun[];
  readyMsP50: number;
  firstJobMsP50: number;
  rssReadyMiBP50: number;
  rssAfterJobsMiBP50: number;
}

export const STARTUP_DEFAULTS = { runs: 3, jobs: 20, command: 'npm start' } as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every process in the tree rooted at `pid` (Linux /proc; just `pid` elsewhere). */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        const list = children.get(ppid) ?? [];
        list.push(Number(entry));
        children.set(ppid, list);
      } catch {
        // the process ended while the tree was read
      }
    }
  } catch {
    return [pid];
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Resident memory of the tree in MiB (VmRSS summed; shared pages count once per process). */
export function treeRssMiB(pid: number): number {
  let kib = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kib += Number(m?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return Math.round((kib / 1024) * 10) / 10;
}

async function runJob(url: string): Promise<void> {
  const res = await fetch(`${url}/v1/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo-chat', task: 'chat', input: { messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 4 } } }),
  });
  const body = (await res.json()) as { status?: string };
  if (res.status !== 200 || body.status !== 'succeeded') throw new Error(`job answered ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
}

async function waitReady(url: string, child: ChildProcess, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the start ended with code ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(10);
  }
  throw new Error('not ready within the deadline');
}

/** SIGTERM to the whole process group, then wait until every process in it is gone (SIGKILL after 10 s). */
async function stopTree(child: ChildProcess): Promise<void> {
  if (child.pid === undefined) return;
  const group = -child.pid;
  const alive = () => {
    try {
      process.kill(group, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(group, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (alive() && Date.now() < deadline) await sleep(50);
  if (alive()) process.kill(group, 'SIGKILL');
  while (alive()) await sleep(50);
}

async function oneRun(o: StartupOptions, modelsDir: string, prefix: string): Promise<StartupRun> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = spawn(o.command, {
    cwd: o.cwd,
    shell: true,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', REDIS_URL: o.redisUrl, FABRIC_PREFIX: prefix, FABRIC_MODELS_DIR: modelsDir, LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  try {
    await waitReady(url, child, Date.now() + 120_000);
    const readyMs = performance.now() - started;
    const rssReadyMiB = treeRssMiB(child.pid!);
    await runJob(url);
    const firstJobMs = performance.now() - started;
    for (let i = 0; i < o.jobs; i++) await runJob(url);
    return { readyMs, firstJobMs, rssReadyMiB, rssAfterJobsMiB: treeRssMiB(child.pid!) };
  } catch (err) {
    throw new Error(`${(err as Error).message}; stderr: ${stderr}`);
  } finally {
    await stopTree(child);
  }
}

/** The phase's table in the bench report. */
export function startupSection(s: StartupResult, row: (cells: (string | number)[]) => void, lines: string[]): void {
  const ms = (x: number) => x.toFixed(0);
  lines.push(`## Start-up of \`${s.command}\` (API + worker with llama.cpp + scheduler), ${s.runs.length} runs after a warm-up run`, '');
  row(['measure', 'p50', 'runs']);
  row(['---', '---:', '---']);
  row(['spawn -> /readyz 200 (ms)', ms(s.readyMsP50), s.runs.map((r) => ms(r.readyMs)).join(' / ')]);
  row(['spawn -> first /v1/run succeeded (ms)', ms(s.firstJobMsP50), s.runs.map((r) => ms(r.firstJobMs)).join(' / ')]);
  row(['RSS of the process tree once ready (MiB)', s.rssReadyMiBP50.toFixed(1), s.runs.map((r) => r.rssReadyMiB.toFixed(1)).join(' / ')]);
  row([`RSS after ${STARTUP_DEFAULTS.jobs} more jobs (MiB)`, s.rssAfterJobsMiBP50.toFixed(1), s.runs.map((r) => r.rssAfterJobsMiB.toFixed(1)).join(' / ')]);
  lines.push('', 'The tree is npm and every Node process under it (VmRSS summed); the demo models are on disk already (the warm-up run wrote them); the time to the first job includes any preload still under way at ready.', '');
}

export async function startupPhase(o: StartupOptions, progress: (msg: string) => void = () => {}): Promise<StartupResult> {
  const modelsDir = mkdtempSync(join(tmpdir(), 'fabric-bench-models-'));
  try {
    progress(`start-up: warm-up run of "${o.command}" (writes the demo models)`);
    await oneRun({ ...o, jobs: 0 }, modelsDir, `bench-startup-warm-${process.pid}`);
    const runs: StartupRun[] = [];
    for (let i = 0; i < o.runs; i++) {
      const r = await oneRun(o, modelsDir, `bench-startup-${process.pid}-${i}`);
      progress(`start-up run ${i + 1}/${o.runs}: ready ${r.readyMs.toFixed(0)} ms, first job ${r.firstJobMs.toFixed(0)} ms, RSS ${r.rssReadyMiB} -> ${r.rssAfterJobsMiB} MiB`);
      runs.push(r);
    }
    const p50 = (pick: (r: StartupRun) => number) => summarize(runs.map(pick)).p50Ms;
    return {
      command: o.command,
      runs,
      readyMsP50: p50((r) => r.readyMs),
      firstJobMsP50: p50((r) => r.firstJobMs),
      rssReadyMiBP50: p50((r) => r.rssReadyMiB),
      rssAfterJobsMiBP50: p50((r) => r.rssAfterJobsMiB),
    };
  } finally {
    rmSync(modelsDir, { recursive: true, force: true });
  }
}

async function cli(): Promise<void> {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const { startPrivateRedis } = await import('./private-redis.ts');
  const redis = await startPrivateRedis();
  try {
    const result = await startupPhase(
      { redisUrl: redis.url, runs: Number(arg('runs') ?? STARTUP_DEFAULTS.runs), jobs: Number(arg('jobs') ?? STARTUP_DEFAULTS.jobs), command: arg('command') ?? STARTUP_DEFAULTS.command, cwd: process.cwd() },
      (msg) => process.stderr.write(`[bench] ${msg}\n`),
    );
    process.stdout.write(`${JSON.stringify({ node: process.version, ...result }, null, 2)}\n`);
  } finally {
    await redis.stop();
  }
}

// Run as a script: exit once printed (a keep-alive socket of fetch must not hold the process).
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  await cli();
  process.exit(0);
}
