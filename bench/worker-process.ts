/**
 * The `split` topology's worker: the real worker deployable (`worker/main.ts`) in a Node process
 * of its own, configured only through its environment, as it is deployed. FakeEngine with zero
 * latency, `slots` parallel generations, fake-small preloaded, no metrics server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { procCpuSeconds } from './proc-cpu.ts';
import { MODEL } from './workload.ts';

export interface WorkerProcessOptions {
  redisUrl: string;
  /** FABRIC_PREFIX: the fabric's key namespace, the same as the API's. */
  prefix: string;
  workerId: string;
  /** FABRIC_SLOTS: FakeEngine slotsPerModel, which is the worker's BullMQ concurrency. */
  slots: number;
  /** FABRIC_FAKE_TPS: tokens per second (0, the default: no delay). */
  tokensPerSecond?: number;
}

export interface WorkerProcess {
  pid: number;
  /** User+system CPU seconds the worker process has used so far. */
  cpuSeconds(): number;
  /** Rejects (with the tail of its output) if the process exits before `stop()`. */
  exited: Promise<never>;
  /** The last lines the process wrote (its pino logs, warn and up). */
  outputTail(): string;
  /** SIGTERM (the worker drains and deregisters), SIGKILL if it is still there after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORKER_ENTRY = fileURLToPath(new URL('../worker/main.ts', import.meta.url));
const OUTPUT_TAIL_CHARS = 4000;

/** Worker processes still running: killed when the bench exits, whatever the way out. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** The inherited environment without any fabric setting of the caller's shell, plus the bench's own. */
function workerEnv(o: WorkerProcessOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('FABRIC_') && !k.startsWith('OLLAMA_') && k !== 'REDIS_URL' && k !== 'LOG_LEVEL') env[k] = v;
  }
  return {
    ...env,
    REDIS_URL: o.redisUrl,
    FABRIC_PREFIX: o.prefix,
    FABRIC_WORKER_ID: o.workerId,
    FABRIC_ENGINE: 'fake',
    FABRIC_FAKE_TPS: String(o.tokensPerSecond ?? 0),
    FABRIC_FAKE_LOAD_MS: '0',
    FABRIC_SLOTS: String(o.slots),
    FABRIC_PRELOAD: MODEL.replace(/:latest$/, ''),
    FABRIC_WORKER_PORT: '0',
    LOG_LEVEL: 'warn',
  };
}

export function spawnWorkerProcess(o: WorkerProcessOptions): WorkerProcess {
  // BENCH_WORKER_NODE_ARGS: extra Node flags for the worker, e.g. `--cpu-prof --cpu-prof-dir=DIR`.
  const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, WORKER_ENTRY], { cwd: REPO_ROOT, env: workerEnv(o), stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not spawn the worker process (${process.execPath} ${WORKER_ENTRY})`);
  const pid = child.pid;
  live.add(child);
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);

  let stopping = false;
  let lastCpu = 0;
  const gone = new Promise<void>((resolve) => {
    child.once('exit', () => {
      live.delete(child);
      resolve();
    });
  });
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('exit', (code, signal) => {
      if (!stopping) reject(new Error(`worker process ${pid} exited (code ${code}, signal ${signal}); its last output:\n${tail}`));
    });
    child.once('error', (err) => {
      if (!stopping) reject(err);
    });
  });
  exited.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection

  return {
    pid,
    cpuSeconds() {
      // Once the process is gone /proc has nothing: keep its last reading.
      const now = procCpuSeconds(pid);
      if (now > 0) lastCpu = now;
      return lastCpu;
    },
    exited,
    outputTail: () => tail,
    async stop(graceMs = 5000) {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, graceMs);
      });
      await Promise.race([gone, killed]);
      clearTimeout(timer);
      await gone;
    },
  };
}
