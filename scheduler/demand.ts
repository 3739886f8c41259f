/**
 * Pure demand estimates from a model's arrival history: the probability that a request
 * arrives within a horizon, and what a reload would cost. Eviction and pre-warm both use them.
 */
import { ARRIVAL_BUCKETS, arrivalBucketRange, type ArrivalStats } from '../protocol/arrivals.ts';

/** P(at least one arrival within `horizonMs`) for a Poisson process at `ratePerSec`. */
export function rateProbability(ratePerSec: number, horizonMs: number): number {
  return ratePerSec > 0 ? 1 - Math.exp((-ratePerSec * horizonMs) / 1000) : 0;
}

/**
 * P(next gap <= elapsed + horizon | next gap > elapsed), from the inter-arrival histogram with
 * each bucket's mass at its mean gap: high when the silence so far is just short of a frequent
 * gap. One pseudo-gap that never ends damps the estimate when few observed gaps exceed
 * `elapsed`, and a history of fewer than `minSamples` gaps counts for nothing.
 */
export function histogramProbability(
  hist: readonly number[],
  meansMs: readonly number[] | undefined,
  elapsedMs: number,
  horizonMs: number,
  minSamples: number,
): number {
  if (hist.reduce((s, c) => s + c, 0) < minSamples) return 0;
  let survive = 0;
  let hit = 0;
  for (let i = 0; i < Math.min(hist.length, ARRIVAL_BUCKETS); i++) {
    const c = hist[i] ?? 0;
    if (c <= 0) continue;
    const mean = (meansMs?.[i] ?? 0) > 0 ? meansMs![i]! : bucketMidpoint(i);
    if (mean <= elapsedMs) continue;
    survive += c;
    if (mean <= elapsedMs + horizonMs) hit += c;
  }
  return hit / (survive + 1);
}

/** Geometric middle of a bucket (the open last bucket read as one doubling wide). */
function bucketMidpoint(i: number): number {
  const [lo, hi] = arrivalBucketRange(i);
  if (lo === 0) return hi / 2;
  return Number.isFinite(hi) ? Math.sqrt(lo * hi) : lo * Math.SQRT2;
}

/** The probability the model is requested within `horizonMs` of `now`, from its history; 0 without one. */
export function arrivalProbability(stats: ArrivalStats, now: number, horizonMs: number, minSamples: number): number {
  const elapsed = Math.max(0, now - stats.lastArrivalAt);
  return Math.max(rateProbability(stats.recentRatePerSec, horizonMs), histogramProbability(stats.interArrivalHistogram, stats.interArrivalMeanMs, elapsed, horizonMs, minSamples));
}

/** Arrivals per second expected of a model now: max(short-term decayed rate, long-term rate). */
export function expectedRatePerSec(stats: ArrivalStats | undefined, now: number): number {
  if (!stats) return 0;
  const hist = stats.interArrivalHistogram;
  const means = stats.interArrivalMeanMs;
  let gaps = 0;
  let spanMs = 0;
  for (let i = 0; i < hist.length; i++) {
    const c = hist[i] ?? 0;
    if (c <= 0) continue;
    gaps += c;
    spanMs += c * (means?.[i] ?? 0);
  }
  const silenceMs = Math.max(0, now - stats.lastArrivalAt);
  const longRate = gaps > 0 && spanMs + silenceMs > 0 ? (gaps * 1000) / (spanMs + silenceMs) : 0;
  return Math.max(stats.recentRatePerSec, longRate);
}

/**
 * Requests expected for a resident model within `horizonMs`: its expected rate over the horizon
 * (not capped at one, so a model asked for every second outranks one asked for every minute), at
 * least the histogram's probability of a request; from recency alone without history.
 */
export function expectedRequests(stats: ArrivalStats | undefined, lastUsedAt: number, now: number, horizonMs: number, minSamples: number): number {
  if (!stats) return residentProbability(undefined, lastUsedAt, now, horizonMs, minSamples);
  return Math.max((expectedRatePerSec(stats, now) * horizonMs) / 1000, arrivalProbability(stats, now, horizonMs, minSamples));
}

/**
 * The probability for a resident model: from its arrival history when there is one, else from
 * recency alone (a rate of one request per idle period), so a fabric without history still
 * prefers stale victims.
 */
export function residentProbability(stats: ArrivalStats | undefined, lastUsedAt: number, now: number, horizonMs: number, minSamples: number): number {
  if (stats) return arrivalProbability(stats, now, horizonMs, minSamples);
  const idleMs = Math.max(1_000, now - lastUsedAt);
  return 1 - Math.exp(-horizonMs / idleMs);
}

/** Estimated reload time of `bytes`: a transfer at `bytesPerSec` plus a fixed start cost. */
export function reloadMs(bytes: number, bytesPerSec: number, fixedMs: number): number {
  return fixedMs + (bytes / bytesPerSec) * 1000;
}
