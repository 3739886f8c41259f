/**
 * The three fixed-rate latency phases, each with a warm-up at the same rate first:
 * (a) the engine called directly, (b) the fabric's sync wrapper `POST /v1/run` over HTTP,
 * (c) a bare BullMQ add -> Worker 'completed'.
 */
import type { Logger } from '../protocol/logger.ts';
import { startBenchFabric, type Topology } from './fabric-harness.ts';
import { startLoadClient, type ClientMode } from './load-client.ts';
import { runOpenLoop, type OpenLoopResult } from './open-loop.ts';
import type { PrivateRedis } from './private-redis.ts';
import { MINIMAL_JOB_OPTIONS, startRawBullmq } from './raw-bullmq.ts';
import { startMeter, type ResourceUsage } from './resource-meter.ts';
import { generateOnce, loadedEngine } from './workload.ts';

export interface LatencyPhaseOptions {
  redis: PrivateRedis;
  log: Logger;
  ratePerSec: number;
  durationMs: number;
  warmupMs: number;
  /** Worker concurrency (FakeEngine slots, BullMQ concurrency). */
  concurrency: number;
  /** Where the HTTP client of phase (b) runs. */
  clientMode: ClientMode;
  /** Where phase (b)'s worker runs: its own process (`split`) or the API's (`shared`). */
  topology: Topology;
  /** See BenchFabricOptions.autoPipelining. */
  autoPipelining?: boolean;
}

export interface LatencyPhaseResult extends OpenLoopResult {
  resources: ResourceUsage;
}

type Loop = (durationMs: number) => Promise<OpenLoopResult>;

/** A warm-up at the measured rate, then the measured run under a resource meter. */
async function measure(o: LatencyPhaseOptions, loop: Loop, workerCpuSeconds?: () => number): Promise<LatencyPhaseResult> {
  await loop(o.warmupMs);
  const meter = await startMeter(o.redis, workerCpuSeconds);
  const res = await loop(o.durationMs);
  return { ...res, resources: await meter.stop(res.offered) };
}

const inProcessLoop =
  (o: LatencyPhaseOptions, op: () => Promise<void>): Loop =>
  (durationMs) =>
    runOpenLoop({ ratePerSec: o.ratePerSec, durationMs, op });

/**
 * At most `slots` calls at once; the rest wait in arrival order, as jobs wait in a queue for the
 * worker's slots, instead of reaching an engine whose slots are all busy (which refuses them).
 */
function slotGate(slots: number): (op: () => Promise<void>) => Promise<void> {
  let busy = 0;
  const waiting: (() => void)[] = [];
  return async (op) => {
    if (busy < slots) busy++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      await op();
    } finally {
      // A waiter takes the slot over as it is; only with none waiting does it become free.
      const next = waiting.shift();
      if (next) next();
      else busy--;
    }
  };
}

/**
 * (a) FakeEngine.generate called directly: the floor every other phase is compared with. Calls
 * beyond the worker concurrency wait for a slot (their latency counts the wait, from the scheduled
 * send), as the fabric's jobs do; when the loop falls behind on a loaded machine, they would
 * otherwise fail with `engine_busy`.
 */
export async function engineDirectLatency(o: LatencyPhaseOptions): Promise<LatencyPhaseResult> {
  const engine = await loadedEngine(o.concurrency);
  const gate = slotGate(o.concurrency);
  try {
    return await measure(
      o,
      inProcessLoop(o, () =>
        gate(async () => {
          await generateOnce(engine);
        }),
      ),
    );
  } finally {
    await engine.close();
  }
}

/**
 * (b) `POST /v1/run` against the in-process API + one worker (a separate process in `split`, in
 * this one in `shared`); a 200 with `succeeded` counts. The latency is the client's own (its
 * thread's clock), from scheduled send to parsed answer.
 */
export async function fabricSyncLatency(o: LatencyPhaseOptions): Promise<LatencyPhaseResult> {
  await o.redis.flush();
  const fabric = await startBenchFabric({ redis: o.redis, log: o.log, slots: o.concurrency, topology: o.topology, autoPipelining: o.autoPipelining ?? false });
  const client = await startLoadClient(o.clientMode, fabric.url, 64);
  try {
    return await measure(o, (durationMs) => client.syncOpenLoop({ ratePerSec: o.ratePerSec, durationMs }), fabric.workerCpuSeconds);
  } finally {
    await client.close();
    await fabric.close();
  }
}

/** (c) Bare BullMQ: Queue.add -> the Worker's 'completed' event, same processor work. */
export async function rawBullmqLatency(o: LatencyPhaseOptions): Promise<LatencyPhaseResult> {
  await o.redis.flush();
  const raw = await startRawBullmq({ redis: o.redis, concurrency: o.concurrency, jobOptions: MINIMAL_JOB_OPTIONS });
  let n = 0;
  try {
    return await measure(
      o,
      inProcessLoop(o, () => raw.addAndWait(`lat-${++n}`)),
    );
  } finally {
    await raw.close();
  }
}
