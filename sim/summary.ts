/** Per-policy figures from a simulation result, in the shape `--json` prints. */
import type { SimResult } from './engine.ts';

export interface PolicySummary {
  readonly policy: string;
  readonly requests: number;
  /** Nearest-rank percentiles over completed requests, in ms; null when none completed. */
  readonly ttft_ms: { readonly p50: number | null; readonly p95: number | null; readonly p99: number | null };
  /** Warm arrivals / accepted arrivals (1 when none were accepted). */
  readonly warm_ratio: number;
  readonly cold_loads: number;
  /** Loads a request waited on, from the load's start to resident: nearest-rank percentiles in ms. */
  readonly cold_start_ms: { readonly p50: number | null; readonly p95: number | null };
  readonly gpu_seconds: number;
  readonly oom: number;
  readonly rejected: number;
}

/** Nearest-rank percentile of an ascending array; null when empty. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

const round = (x: number, digits = 0) => Math.round(x * 10 ** digits) / 10 ** digits;
const roundOrNull = (x: number | null) => (x === null ? null : round(x));

export function summarize(r: SimResult): PolicySummary {
  return {
    policy: r.policy,
    requests: r.requests,
    ttft_ms: { p50: roundOrNull(percentile(r.ttftMs, 50)), p95: roundOrNull(percentile(r.ttftMs, 95)), p99: roundOrNull(percentile(r.ttftMs, 99)) },
    warm_ratio: r.accepted === 0 ? 1 : round(r.warm / r.accepted, 4),
    cold_loads: r.coldLoads,
    cold_start_ms: { p50: roundOrNull(percentile(r.coldStartMs, 50)), p95: roundOrNull(percentile(r.coldStartMs, 95)) },
    gpu_seconds: round(r.gpuSeconds, 1),
    oom: r.oom,
    rejected: r.rejected,
  };
}
