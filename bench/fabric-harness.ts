/**
 * The fabric assembled in-process for the bench: the real API (listening on a free port) and
 * one real WorkerNode with a zero-latency FakeEngine, on the bench's private Redis in a fresh
 * key namespace. API and worker get separate Redis connections, as separate processes would.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApi } from '../producer-api/app.js';
import { apiOptions } from '../producer-api/options.js';
import { JobStore } from '../protocol/job-store.js';
import type { StatusListener } from '../protocol/job.js';
import { createKeys, type Keys } from '../protocol/keys.js';
import type { Logger } from '../protocol/logger.js';
import type { StoredStatus } from '../protocol/statuses.js';
import { createStatusNotifier } from '../protocol/status-notifier.js';
import { WebhookDispatcher } from '../protocol/webhook-enqueue.js';
import { workerOptions } from '../worker/options.js';
import { WorkerNode } from '../worker/worker-node.js';
import type { PrivateRedis } from './private-redis.js';
import { MODEL, zeroLatencyEngine } from './workload.js';

export interface BenchFabricOptions {
  redis: PrivateRedis;
  log: Logger;
  /** FakeEngine slotsPerModel, which is the worker's BullMQ concurrency. */
  slots: number;
  /** Waiting jobs a model queue may hold before 503 (the API default is 1000). */
  maxBacklog?: number;
  /** Sees every status change the worker makes, after the fabric's own notifier. */
  onStatus?: (jobId: string, status: StoredStatus) => void;
  /** ioredis enableAutoPipelining on the API's and worker's connections (an experiment; off in the fabric). */
  autoPipelining?: boolean;
}

export interface BenchFabric {
  url: string;
  keys: Keys;
  worker: WorkerNode;
  close(): Promise<void>;
}

export async function startBenchFabric(o: BenchFabricOptions): Promise<BenchFabric> {
  const { redis, log } = o;
  const keys = createKeys(`bench-${randomUUID().slice(0, 8)}`);
  const extra = o.autoPipelining ? { enableAutoPipelining: true } : {};
  // Named so a MONITOR trace (bench/trace-job.ts) can tell the API's commands from the worker's.
  const apiRedis = redis.connect({ ...extra, connectionName: 'fabric-api' });
  const workerRedis = redis.connect({ ...extra, connectionName: 'fabric-worker' });
  const opts = apiOptions(o.maxBacklog !== undefined ? { maxBacklog: o.maxBacklog } : {});
  const api = createApi(opts, { redis: apiRedis, keys, log });
  await api.ready();
  const server: Server = await new Promise((resolve) => {
    const s = api.app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const engine = zeroLatencyEngine(o.slots);
  const store = new JobStore(workerRedis, keys);
  const dispatcher = new WebhookDispatcher({ connection: workerRedis, keys, logger: log });
  const notifier = createStatusNotifier({ store, dispatcher, log });
  const onStatus: StatusListener = async (job, status) => {
    await notifier(job, status);
    o.onStatus?.(job.id, status);
  };
  const worker = new WorkerNode(
    workerOptions({ workerId: `bench-worker-${keys.prefix}`, preload: [MODEL], queue: opts.queue }),
    { engine, redis: workerRedis, keys, store, log, onStatus },
  );
  await worker.start();
  if (!worker.heartbeat().resident.some((m) => m.model === MODEL)) throw new Error(`bench worker did not preload ${MODEL}`);

  let closing: Promise<void> | null = null;
  const steps: (() => Promise<unknown>)[] = [
    () => worker.close(),
    () => new Promise((r) => server.close(r)),
    async () => server.closeAllConnections(),
    () => api.close(),
    () => dispatcher.close(),
    () => engine.close(),
    async () => {
      apiRedis.disconnect();
      workerRedis.disconnect();
    },
  ];
  return {
    url,
    keys,
    worker,
    close() {
      closing ??= (async () => {
        for (const step of steps) {
          try {
            await step();
          } catch (err) {
            log.warn({ err }, 'Bench fabric close step failed');
          }
        }
      })();
      return closing;
    },
  };
}
