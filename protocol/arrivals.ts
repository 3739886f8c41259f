/**
 * Per-model arrival history, written by the API on every accepted job and read by the
 * scheduler to predict demand (pre-warm, eviction cost).
 *
 * Redis representation: one small hash per model, `keys.modelArrivals(model)`, with a fixed
 * set of fields, so its size is bounded whatever the traffic:
 *   last   epoch ms of the latest arrival (never moves backwards)
 *   rate   arrivals/s as of `last`: an exponentially decayed count, time constant ARRIVAL_RATE_TAU_MS
 *   n      arrivals recorded (integer, never decayed)
 *   hsum   sum of the h<i> fields
 *   h<i>   inter-arrival gaps that fell in bucket i (see `arrivalBucketOf`)
 *   s<i>   the sum of those gaps in ms, so a bucket's mean gap (s<i> / h<i>) is known exactly
 *   All h<i> and s<i> are halved whenever hsum passes ARRIVAL_HISTOGRAM_CAP, so old patterns fade
 *   (means are kept).
 * The hash expires ARRIVAL_TTL_MS after the model's latest arrival.
 *
 * `nextArrivalRecord` is the same update as the Lua script (store/arrival-store.ts), pure, for the simulator and tests.
 */

/** Time constant of the decayed arrival rate. */
export const ARRIVAL_RATE_TAU_MS = 60_000;
/** Upper edge of the first inter-arrival bucket; each next bucket's edge doubles. */
export const ARRIVAL_BUCKET_BASE_MS = 1_000;
/** Buckets: [0,1s) [1s,2s) [2s,4s) ... [2^15 s, 2^16 s) [2^16 s (~18 h), inf). */
export const ARRIVAL_BUCKETS = 18;
/** The histogram is halved once it holds more than this many gaps. */
export const ARRIVAL_HISTOGRAM_CAP = 1_000;
/** A model's history expires this long after its latest arrival. */
export const ARRIVAL_TTL_MS = 7 * 24 * 3_600_000;

/** A model's arrival history as a snapshot sees it at time `now` (what `decide` reads). */
export interface ArrivalStats {
  /** Epoch ms of the latest accepted job for the model. */
  readonly lastArrivalAt: number;
  /** Arrivals per second as of the snapshot's `now`: decayed count with time constant ARRIVAL_RATE_TAU_MS. */
  readonly recentRatePerSec: number;
  /**
   * Counts of inter-arrival gaps per log-spaced bucket, ARRIVAL_BUCKETS long: bucket i holds
   * gaps in `arrivalBucketRange(i)` (may be fractional after decay). Empty: no gap yet.
   */
  readonly interArrivalHistogram: readonly number[];
  /**
   * Mean gap in ms of each bucket's gaps (0 where the bucket is empty). Absent: the bucket's
   * geometric midpoint stands in (coarser: a bucket spans a doubling).
   */
  readonly interArrivalMeanMs?: readonly number[];
  /** Arrivals recorded (within the TTL); informational. */
  readonly count?: number;
}

/** The stored form: the rate is as of `lastArrivalAt`, not as of a reader's clock. */
export interface ArrivalRecord {
  readonly lastArrivalAt: number;
  readonly rateAtLastPerSec: number;
  readonly interArrivalHistogram: readonly number[];
  /** Sum of the gaps in each bucket, ms (decayed with the counts). */
  readonly interArrivalSumMs: readonly number[];
  readonly count: number;
}

/** The bucket of an inter-arrival gap: 0 below the base, then one per doubling, the last open-ended. */
export function arrivalBucketOf(gapMs: number): number {
  let edge = ARRIVAL_BUCKET_BASE_MS;
  let i = 0;
  while (i < ARRIVAL_BUCKETS - 1 && gapMs >= edge) {
    edge *= 2;
    i++;
  }
  return i;
}

/** `[lo, hi)` in ms of bucket i; the last bucket's `hi` is Infinity. */
export function arrivalBucketRange(i: number): [number, number] {
  const lo = i === 0 ? 0 : ARRIVAL_BUCKET_BASE_MS * 2 ** (i - 1);
  const hi = i >= ARRIVAL_BUCKETS - 1 ? Infinity : ARRIVAL_BUCKET_BASE_MS * 2 ** i;
  return [lo, hi];
}

/** Pure: the record after one more arrival at `now` (the Lua script does the same in Redis). */
export function nextArrivalRecord(prev: ArrivalRecord | undefined, now: number): ArrivalRecord {
  const empty = () => new Array<number>(ARRIVAL_BUCKETS).fill(0);
  if (!prev) return { lastArrivalAt: now, rateAtLastPerSec: 1000 / ARRIVAL_RATE_TAU_MS, interArrivalHistogram: empty(), interArrivalSumMs: empty(), count: 1 };
  // Clocks of several API instances may disagree a little: a late arrival counts as gap 0.
  const gap = Math.max(0, now - prev.lastArrivalAt);
  const hist = prev.interArrivalHistogram.length === ARRIVAL_BUCKETS ? [...prev.interArrivalHistogram] : empty();
  const sums = prev.interArrivalSumMs.length === ARRIVAL_BUCKETS ? [...prev.interArrivalSumMs] : empty();
  const b = arrivalBucketOf(gap);
  hist[b]! += 1;
  sums[b]! += gap;
  const halve = hist.reduce((s, c) => s + c, 0) > ARRIVAL_HISTOGRAM_CAP;
  return {
    lastArrivalAt: Math.max(prev.lastArrivalAt, now),
    rateAtLastPerSec: prev.rateAtLastPerSec * Math.exp(-gap / ARRIVAL_RATE_TAU_MS) + 1000 / ARRIVAL_RATE_TAU_MS,
    interArrivalHistogram: halve ? hist.map((c) => c / 2) : hist,
    interArrivalSumMs: halve ? sums.map((c) => c / 2) : sums,
    count: prev.count + 1,
  };
}

/** Pure: the stats a snapshot taken at `now` reports for a stored record. */
export function arrivalStatsAt(rec: ArrivalRecord, now: number): ArrivalStats {
  const since = Math.max(0, now - rec.lastArrivalAt);
  return Object.freeze({
    lastArrivalAt: rec.lastArrivalAt,
    recentRatePerSec: rec.rateAtLastPerSec * Math.exp(-since / ARRIVAL_RATE_TAU_MS),
    interArrivalHistogram: Object.freeze([...rec.interArrivalHistogram]),
    interArrivalMeanMs: Object.freeze(rec.interArrivalHistogram.map((c, i) => (c > 0 ? (rec.interArrivalSumMs[i] ?? 0) / c : 0))),
    count: rec.count,
  });
}

/** Parses a model's arrivals hash (HGETALL); null when empty or malformed. */
export function parseArrivalRecord(raw: Record<string, string>): ArrivalRecord | null {
  const last = Number(raw['last']);
  const rate = Number(raw['rate']);
  const count = Number(raw['n']);
  if (!Number.isFinite(last) || !Number.isFinite(rate) || !Number.isFinite(count)) return null;
  const field = (name: string) => {
    const c = Number(raw[name] ?? 0);
    return Number.isFinite(c) && c > 0 ? c : 0;
  };
  const hist = Array.from({ length: ARRIVAL_BUCKETS }, (_, i) => field(`h${i}`));
  const sums = Array.from({ length: ARRIVAL_BUCKETS }, (_, i) => field(`s${i}`));
  return { lastArrivalAt: last, rateAtLastPerSec: rate, interArrivalHistogram: hist, interArrivalSumMs: sums, count };
}
