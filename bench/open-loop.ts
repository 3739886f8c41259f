/**
 * Open-loop load at a fixed rate: sends are scheduled on a timer at fixed intervals and never
 * wait for earlier ones to finish. Latency is measured from each send's *scheduled* time, so a
 * stalled event loop or a slow system shows up in the numbers instead of silently lowering the
 * offered rate (no coordinated omission).
 */
import { performance } from 'node:perf_hooks';
import { summarize, type LatencySummary } from './stats.ts';

export interface OpenLoopOptions {
  ratePerSec: number;
  durationMs: number;
  /** One unit of work; resolves when it is complete, rejects on failure. */
  op: () => Promise<void>;
}

export interface OpenLoopResult {
  offered: number;
  completed: number;
  errors: number;
  firstError: string | null;
  /** Scheduled send -> completion. */
  latency: LatencySummary;
  /** Scheduled send -> actual send (timer and event-loop lateness on the client side). */
  sendLag: LatencySummary;
  maxInFlight: number;
  achievedRatePerSec: number;
  /** Event-loop utilization of this process during the run (0..1). */
  eventLoopUtilization: number;
}

export async function runOpenLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  const intervalMs = 1000 / o.ratePerSec;
  const total = Math.max(1, Math.floor((o.durationMs / 1000) * o.ratePerSec));
  const latencies: number[] = [];
  const lags: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let inFlight = 0;
  let maxInFlight = 0;
  let settled = 0;
  let allSettled: () => void = () => undefined;
  const done = new Promise<void>((r) => (allSettled = r));
  const elu0 = performance.eventLoopUtilization();
  const start = performance.now() + 2;

  const fire = (scheduled: number, now: number) => {
    lags.push(now - scheduled);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    o.op().then(
      () => latencies.push(performance.now() - scheduled),
      (err: unknown) => {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
      },
    ).finally(() => {
      inFlight--;
      if (++settled === total) allSettled();
    });
  };

  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      // Catch up on every send that is due: a late timer must not lower the offered rate.
      while (i < total && start + i * intervalMs <= now) {
        fire(start + i * intervalMs, now);
        i++;
      }
      if (i >= total) return resolve();
      setTimeout(tick, Math.max(0, start + i * intervalMs - performance.now()));
    };
    setTimeout(tick, 2);
  });
  const sendEnd = performance.now();
  await done;
  const elu = performance.eventLoopUtilization(elu0);
  return {
    offered: total,
    completed: latencies.length,
    errors,
    firstError,
    latency: summarize(latencies),
    sendLag: summarize(lags),
    maxInFlight,
    achievedRatePerSec: total / ((sendEnd - start) / 1000),
    eventLoopUtilization: elu.utilization,
  };
}
