/**
 * The fabric assembled for the bench, on its private Redis in a fresh key namespace: the real
 * API (in this process, listening on a free port) and one real worker with a zero-latency
 * FakeEngine, in one of two topologies:
 *
 * - `split` (how the fabric deploys): the worker is the worker deployable, `worker/main.ts`, in
 *   a Node process of its own, configured through its environment (bench/worker-process.ts).
 *   Completions are seen on the fabric's events bus, on a dedicated subscriber connection.
 * - `shared`: a WorkerNode in this process, on the API's event loop (separate Redis connections,
 *   as separate processes would have). Completions are seen by the worker's onStatus hook.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RedisOptions } from 'ioredis';
import { createApi } from '../producer-api/app.ts';
import type { BatchOptions } from '../producer-api/batch/options.ts';
import { apiOptions, type ApiOptions } from '../producer-api/settings/options.ts';
import { JobStore } from '../store/job-store.ts';
import { coalesceWrites } from '../store/write-coalescing.ts';
import type { StatusListener } from '../protocol/job.ts';
import { createKeys, type Keys } from '../protocol/keys.ts';
import type { Logger } from '../protocol/logger.ts';
import type { StoredStatus } from '../protocol/statuses.ts';
import { createStatusNotifier } from '../store/status-notifier.ts';
import { WebhookDispatcher } from '../store/webhook-enqueue.ts';
import { workerOptions } from '../worker/options.ts';
import { WorkerNode } from '../worker/worker-node.ts';
import type { PrivateRedis } from './private-redis.ts';
import { startApiProcesses } from './api-process.ts';
import { spawnWorkerProcess, type WorkerProcess } from './worker-process.ts';
import { MODEL, zeroLatencyEngine } from './workload.ts';

/** Where the worker runs: its own Node process (`split`, as deployed) or the API's (`shared`). */
export type Topology = 'shared' | 'split';
export const TOPOLOGIES: readonly Topology[] = ['split', 'shared'];

/** How long a split worker may take to start and report fake-small resident. */
const WORKER_READY_TIMEOUT_MS = 60_000;

export interface BenchFabricOptions {
  redis: PrivateRedis;
  log: Logger;
  /** FakeEngine slotsPerModel, which is the worker's BullMQ concurrency. */
  slots: number;
  /** FakeEngine tokens per second (0, the default: zero latency). */
  tokensPerSecond?: number;
  /** Waiting jobs a model queue may hold before 503 (the API default is 1000). */
  maxBacklog?: number;
  /** Where the worker runs; `shared` if left out. */
  topology?: Topology;
  /** Called once per job that reaches `succeeded` (shared: onStatus hook; split: events bus). */
  onSucceeded?: (jobId: string) => void;
  /** `shared` only: sees every status change the worker makes, after the fabric's own notifier. */
  onStatus?: (jobId: string, status: StoredStatus) => void;
  /** Batch API options of the API (bench/batch.ts). */
  batch?: Partial<BatchOptions>;
  /** ioredis enableAutoPipelining on the API's and (shared only) worker's connections (an experiment; off in the fabric). */
  autoPipelining?: boolean;
  /** Run the API as `producer-api/main.ts` with FABRIC_API_PROCESSES = this, instead of in this process (split only). */
  apiProcesses?: number;
}

export interface BenchFabric {
  url: string;
  keys: Keys;
  topology: Topology;
  /** The in-process worker (`shared`); null when it is a process of its own. */
  worker: WorkerNode | null;
  /** The worker process's pid (`split`); null when the worker runs in this process. */
  workerPid: number | null;
  /** CPU seconds the worker process has used so far; 0 in `shared` (its CPU is this process's). */
  workerCpuSeconds(): number;
  close(): Promise<void>;
}

interface WorkerSide {
  node: WorkerNode | null;
  process: WorkerProcess | null;
  steps: (() => Promise<unknown>)[];
}

export async function startBenchFabric(o: BenchFabricOptions): Promise<BenchFabric> {
  const { redis, log } = o;
  const topology = o.topology ?? 'shared';
  if (topology === 'split' && o.onStatus) throw new Error('onStatus needs the worker in this process (topology shared)');
  const keys = createKeys(`bench-${randomUUID().slice(0, 8)}`);
  if (o.apiProcesses) return startWithApiProcesses(o, keys, o.apiProcesses);
  const extra = o.autoPipelining ? { enableAutoPipelining: true } : {};
  // Named so a MONITOR trace (bench/trace-job.ts) can tell the API's commands from the worker's.
  const apiRedis = redis.connect({ ...extra, connectionName: 'fabric-api' });
  // As createRedisConnection makes every connection of the fabric.
  coalesceWrites(apiRedis);
  const opts = apiOptions(o.maxBacklog !== undefined ? { maxBacklog: o.maxBacklog } : {});
  const api = createApi(opts, { redis: apiRedis, keys, log, batch: o.batch });
  await api.ready();
  const server: Server = await new Promise((resolve) => {
    const s = api.app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const apiSteps: (() => Promise<unknown>)[] = [
    () => new Promise((r) => server.close(r)),
    async () => server.closeAllConnections(),
    () => api.close(),
    async () => apiRedis.disconnect(),
  ];

  let worker: WorkerSide;
  try {
    worker = topology === 'split' ? await startWorkerProcess(o, keys, url) : await startInProcessWorker(o, keys, opts.queue, extra);
  } catch (err) {
    await runSteps(apiSteps, log);
    throw err;
  }

  let closing: Promise<void> | null = null;
  return {
    url,
    keys,
    topology,
    worker: worker.node,
    workerPid: worker.process?.pid ?? null,
    workerCpuSeconds: () => worker.process?.cpuSeconds() ?? 0,
    close() {
      closing ??= runSteps([...worker.steps, ...apiSteps], log);
      return closing;
    },
  };
}

/** The API as processes of its own (bench/api-process.ts) and the worker as in `split`. */
async function startWithApiProcesses(o: BenchFabricOptions, keys: Keys, processes: number): Promise<BenchFabric> {
  const api = await startApiProcesses({ redisUrl: o.redis.url, prefix: keys.prefix, processes, maxBacklog: o.maxBacklog ?? 1000 });
  let worker: WorkerSide;
  try {
    worker = await startWorkerProcess(o, keys, api.url);
  } catch (err) {
    await api.stop();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    url: api.url,
    keys,
    topology: 'split',
    worker: null,
    workerPid: worker.process?.pid ?? null,
    // What runs outside this process: the worker and the API processes.
    workerCpuSeconds: () => (worker.process?.cpuSeconds() ?? 0) + api.cpuSeconds(),
    close() {
      closing ??= runSteps([...worker.steps, () => api.stop()], o.log);
      return closing;
    },
  };
}

async function runSteps(steps: (() => Promise<unknown>)[], log: Logger): Promise<void> {
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      log.warn({ err }, 'Bench fabric close step failed');
    }
  }
}

/** `shared`: a WorkerNode on this process's event loop, with its own Redis connection. */
async function startInProcessWorker(o: BenchFabricOptions, keys: Keys, queue: ApiOptions['queue'], extra: RedisOptions): Promise<WorkerSide> {
  const { redis, log } = o;
  const workerRedis = redis.connect({ ...extra, connectionName: 'fabric-worker' });
  coalesceWrites(workerRedis);
  const engine = zeroLatencyEngine(o.slots, o.tokensPerSecond);
  const store = new JobStore(workerRedis, keys);
  const dispatcher = new WebhookDispatcher({ connection: workerRedis, keys, logger: log });
  const notifier = createStatusNotifier({ store, dispatcher, log });
  const onStatus: StatusListener = async (job, status) => {
    await notifier(job, status);
    o.onStatus?.(job.id, status);
    if (status === 'succeeded') o.onSucceeded?.(job.id);
  };
  const node = new WorkerNode(
    workerOptions({ workerId: `bench-worker-${keys.prefix}`, preload: [MODEL], queue }),
    { engine, redis: workerRedis, keys, store, log, onStatus },
  );
  const steps: (() => Promise<unknown>)[] = [() => node.close(), () => dispatcher.close(), () => engine.close(), async () => workerRedis.disconnect()];
  try {
    await node.start();
    if (!node.heartbeat().resident.some((m) => m.model === MODEL)) throw new Error(`bench worker did not preload ${MODEL}`);
  } catch (err) {
    await runSteps(steps, log);
    throw err;
  }
  return { node, process: null, steps };
}

/**
 * `split`: the worker deployable in its own process. Ready once the API's `GET /api/ps` (a fresh
 * read of the worker heartbeats) lists fake-small resident; with `onSucceeded`, completions are
 * counted from the events bus (`<jobId> <streamId> status succeeded`) on a connection of its own.
 */
async function startWorkerProcess(o: BenchFabricOptions, keys: Keys, apiUrl: string): Promise<WorkerSide> {
  const { redis, log } = o;
  const steps: (() => Promise<unknown>)[] = [];
  try {
    if (o.onSucceeded) {
      const onSucceeded = o.onSucceeded;
      const conn = redis.connect({ connectionName: 'bench-completions' });
      steps.push(async () => conn.disconnect());
      conn.on('message', (_channel: string, message: string) => {
        const [jobId = '', , type, status] = message.split(' ');
        if (type === 'status' && status === 'succeeded') onSucceeded(jobId);
      });
      await conn.subscribe(keys.eventsBus());
    }
    const child = spawnWorkerProcess({ redisUrl: redis.url, prefix: keys.prefix, workerId: `bench-worker-${keys.prefix}`, slots: o.slots, tokensPerSecond: o.tokensPerSecond });
    // Stopped first: the worker drains before the API and the completion subscriber go.
    steps.unshift(() => child.stop(5000));
    await Promise.race([waitForResident(apiUrl, MODEL, WORKER_READY_TIMEOUT_MS), child.exited]);
    return { node: null, process: child, steps };
  } catch (err) {
    await runSteps(steps, log);
    throw err;
  }
}

/** Polls the API's `GET /api/ps` until `model` is resident on some worker. */
async function waitForResident(apiUrl: string, model: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${apiUrl}/api/ps`);
      const body = await res.text();
      if (res.ok && (JSON.parse(body) as { models?: { model?: string }[] }).models?.some((m) => m.model === model)) return;
      last = `HTTP ${res.status}: ${body.slice(0, 300)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`worker process did not report ${model} resident within ${timeoutMs / 1000} s (last GET /api/ps: ${last})`);
}
