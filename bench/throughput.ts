/**
 * Maximum async throughput: N jobs submitted by a bounded number of concurrent clients, timed
 * from the first submit to the last completion at the worker. The fabric is driven over HTTP
 * (`POST /v1/jobs`) and counted through the worker's onStatus hook (topology `shared`) or the
 * events bus (`split`, the worker being another process); bare BullMQ is driven with
 * concurrent add() calls or addBulk and counted through the Worker's 'completed' event.
 */
import type { JobsOptions } from 'bullmq';
import type { Logger } from '../protocol/logger.ts';
import { startBenchFabric, type Topology } from './fabric-harness.ts';
import { startLoadClient, type ClientMode } from './load-client.ts';
import { runLanes } from './load-ops.ts';
import type { PrivateRedis } from './private-redis.ts';
import { startRawBullmq } from './raw-bullmq.ts';
import { startMeter, type ResourceUsage } from './resource-meter.ts';

export interface ThroughputOptions {
  redis: PrivateRedis;
  log: Logger;
  jobs: number;
  warmupJobs: number;
  /** Client requests (or add() calls) in flight at once. */
  clientConcurrency: number;
  /** Worker concurrency = FakeEngine slotsPerModel. */
  concurrency: number;
  /** Where the HTTP client of the fabric phase runs. */
  clientMode: ClientMode;
  /** Where the fabric phase's worker runs: its own process (`split`) or the API's (`shared`). */
  topology: Topology;
  /** See BenchFabricOptions.autoPipelining. */
  autoPipelining?: boolean;
  /** See BenchFabricOptions.apiProcesses. */
  apiProcesses?: number;
}

export interface ThroughputResult {
  label: string;
  concurrency: number;
  jobs: number;
  errors: number;
  firstError: string | null;
  /** First submit -> last completion. */
  seconds: number;
  jobsPerSec: number;
  /** First submit -> last submit acknowledged. */
  submitJobsPerSec: number;
  timedOut: boolean;
  resources: ResourceUsage;
}

/** Counts completions and wakes a waiter when a target count is reached. */
class CompletionCounter {
  count = 0;
  lastAt = 0;
  private target = Infinity;
  private wake: () => void = () => undefined;

  hit(): void {
    this.count++;
    this.lastAt = performance.now();
    if (this.count >= this.target) this.wake();
  }

  /** Resolves true when `n` completions were seen, false after `timeoutMs`. */
  waitFor(n: number, timeoutMs: number): Promise<boolean> {
    if (this.count >= n) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.target = n;
      this.wake = () => {
        clearTimeout(timer);
        this.target = Infinity;
        resolve(true);
      };
    });
  }

  reset(): void {
    this.count = 0;
    this.lastAt = 0;
  }
}

const completionTimeoutMs = (jobs: number) => 30_000 + jobs * 5;

interface Driver {
  /** Submits `n` jobs; returns how many were accepted and the first refusal, if any. */
  submit(n: number): Promise<{ accepted: number; errors: number; firstError: string | null }>;
  counter: CompletionCounter;
  /** CPU seconds of a separate worker process so far, if there is one. */
  workerCpuSeconds?: () => number;
}

async function timeRun(label: string, o: ThroughputOptions, d: Driver): Promise<ThroughputResult> {
  const warm = await d.submit(o.warmupJobs);
  await d.counter.waitFor(warm.accepted, completionTimeoutMs(o.warmupJobs));
  d.counter.reset();
  const meter = await startMeter(o.redis, d.workerCpuSeconds);
  const t0 = performance.now();
  const sub = await d.submit(o.jobs);
  const submitEnd = performance.now();
  const finished = await d.counter.waitFor(sub.accepted, completionTimeoutMs(o.jobs));
  const end = finished ? d.counter.lastAt : performance.now();
  const resources = await meter.stop(sub.accepted);
  const seconds = (end - t0) / 1000;
  return {
    label,
    concurrency: o.concurrency,
    jobs: sub.accepted,
    errors: sub.errors,
    firstError: sub.firstError,
    seconds,
    jobsPerSec: d.counter.count / seconds,
    submitJobsPerSec: sub.accepted / ((submitEnd - t0) / 1000),
    timedOut: !finished,
    resources,
  };
}

/**
 * The fabric: `POST /v1/jobs` (202 expected), completions = jobs that reached `succeeded`, seen
 * by the worker's onStatus hook (`shared`) or on the events bus (`split`).
 */
export async function fabricThroughput(o: ThroughputOptions): Promise<ThroughputResult> {
  await o.redis.flush();
  const counter = new CompletionCounter();
  // The backlog bound is lifted so a burst faster than the worker is measured, not refused.
  const fabric = await startBenchFabric({
    redis: o.redis,
    log: o.log,
    slots: o.concurrency,
    maxBacklog: 10 * (o.jobs + o.warmupJobs),
    topology: o.topology,
    autoPipelining: o.autoPipelining ?? false,
    ...(o.apiProcesses ? { apiProcesses: o.apiProcesses } : {}),
    onSucceeded: () => counter.hit(),
  });
  const client = await startLoadClient(o.clientMode, fabric.url, o.clientConcurrency);
  try {
    const label = o.apiProcesses ? `fabric POST /v1/jobs, API as ${o.apiProcesses} process${o.apiProcesses > 1 ? 'es' : ''} of its own` : 'fabric POST /v1/jobs';
    return await timeRun(label, o, { counter, workerCpuSeconds: fabric.workerCpuSeconds, submit: (n) => client.submit(n, o.clientConcurrency) });
  } finally {
    await client.close();
    await fabric.close();
  }
}

export type RawMode = 'add' | 'addBulk';

/** Bare BullMQ: concurrent add() calls (as many in flight as HTTP clients) or addBulk chunks. */
export async function rawThroughput(o: ThroughputOptions & { mode: RawMode; jobOptions: JobsOptions; label: string }): Promise<ThroughputResult> {
  await o.redis.flush();
  const counter = new CompletionCounter();
  const raw = await startRawBullmq({ redis: o.redis, concurrency: o.concurrency, jobOptions: o.jobOptions, onCompleted: () => counter.hit() });
  let n = 0;
  const chunk = 500;
  try {
    return await timeRun(o.label, o, {
      counter,
      async submit(count) {
        let errors = 0;
        let firstError: string | null = null;
        const ids = Array.from({ length: count }, () => `tp-${++n}`);
        const onErr = (err: unknown) => {
          errors++;
          firstError ??= (err as Error).message;
        };
        if (o.mode === 'add') {
          await runLanes(count, o.clientConcurrency, (i) => raw.add(ids[i]!).catch(onErr));
        } else {
          const chunks = Math.ceil(count / chunk);
          await runLanes(chunks, 4, (i) => raw.addBulk(ids.slice(i * chunk, (i + 1) * chunk)).catch(onErr));
        }
        return { accepted: count - (o.mode === 'add' ? errors : errors * chunk), errors, firstError };
      },
    });
  } finally {
    await raw.close();
  }
}
