/**
 * The baseline: a bare BullMQ Queue + Worker on the same Redis whose processor makes the same
 * FakeEngine call, with no job record, events, status notifications or HTTP. Completions are
 * seen through the Worker's 'completed' event, in this process.
 */
import { Queue, Worker, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { BULL_PRIORITY } from '../protocol/job.ts';
import { QUEUE_SETTINGS_DEFAULTS } from '../protocol/queue-settings.ts';
import type { PrivateRedis } from './private-redis.ts';
import { generateOnce, loadedEngine } from './workload.ts';

/** Leanest options: no priority, no retries, completed jobs removed at once. */
export const MINIMAL_JOB_OPTIONS: JobsOptions = { removeOnComplete: true };

/** The options the fabric's JobService.addToQueue uses for a normal-priority job. */
export function fabricLikeJobOptions(): JobsOptions {
  const q = QUEUE_SETTINGS_DEFAULTS;
  return {
    priority: BULL_PRIORITY.normal,
    attempts: q.attempts,
    backoff: { type: 'exponential', delay: q.backoffMs },
    removeOnComplete: { age: q.keepCompletedSec, count: q.keepCompletedCount },
    removeOnFail: { age: q.keepFailedSec },
  };
}

export interface RawBullmq {
  /** Adds one job; resolves when the add is acknowledged. */
  add(id: string): Promise<void>;
  /** Adds one job and resolves when the worker has completed it. */
  addAndWait(id: string): Promise<void>;
  /** Adds many jobs with addBulk. */
  addBulk(ids: string[]): Promise<void>;
  close(): Promise<void>;
}

export interface RawBullmqOptions {
  redis: PrivateRedis;
  concurrency: number;
  jobOptions: JobsOptions;
  /** Called on every completion (the Worker's 'completed' event). */
  onCompleted?: () => void;
}

export async function startRawBullmq(o: RawBullmqOptions): Promise<RawBullmq> {
  const conn: Redis = o.redis.connect();
  const workerConn: Redis = o.redis.connect();
  const engine = await loadedEngine(o.concurrency);
  const name = `raw-${Date.now()}`;
  const prefix = 'bench-raw';
  const queue = new Queue(name, { connection: conn, prefix });
  const q = QUEUE_SETTINGS_DEFAULTS;
  const worker = new Worker(
    name,
    async () => {
      await generateOnce(engine);
    },
    { connection: workerConn, prefix, concurrency: o.concurrency, lockDuration: q.lockDurationMs, stalledInterval: q.stalledIntervalMs, maxStalledCount: q.maxStalledCount },
  );
  const waiters = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  worker.on('completed', (job) => {
    o.onCompleted?.();
    const w = waiters.get(job.id!);
    if (w) {
      waiters.delete(job.id!);
      w.resolve();
    }
  });
  worker.on('failed', (job, err) => {
    const w = job && waiters.get(job.id!);
    if (w) {
      waiters.delete(job.id!);
      w.reject(err);
    }
  });
  await worker.waitUntilReady();

  return {
    async add(id) {
      await queue.add('chat', { id }, { ...o.jobOptions, jobId: id });
    },
    addAndWait(id) {
      // Registered before the add, so a completion racing the add's reply is not missed.
      const done = new Promise<void>((resolve, reject) => waiters.set(id, { resolve, reject }));
      return queue.add('chat', { id }, { ...o.jobOptions, jobId: id }).then(
        () => done,
        (err: unknown) => {
          waiters.delete(id);
          throw err;
        },
      );
    },
    async addBulk(ids) {
      await queue.addBulk(ids.map((id) => ({ name: 'chat', data: { id }, opts: { ...o.jobOptions, jobId: id } })));
    },
    async close() {
      await worker.close().catch(() => undefined);
      await queue.close().catch(() => undefined);
      await engine.close();
      conn.disconnect();
      workerConn.disconnect();
    },
  };
}
