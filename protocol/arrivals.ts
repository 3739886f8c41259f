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
 * `nextArrivalRecord` is the same update as the Lua script, pure, for the simulator and tests.
 */
import type { RedisClient } from './redis-client.js';
import type { Keys } from './keys.js';

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

/*
 * Records arrivals in a model's arrivals hash, each as `nextArrivalRecord` does, in order.
 * KEYS[1] the model's arrivals hash
 * ARGV[1] rate time constant (ms)  ARGV[2] first bucket edge (ms)  ARGV[3] bucket count
 * ARGV[4] histogram cap            ARGV[5] ttl (ms)                ARGV[6..] arrival times (epoch ms)
 * Reads the hash once and writes each touched field once, so a batch costs about what one
 * arrival does. Returns the arrivals recorded.
 */
export const RECORD_ARRIVALS_LUA = `
local tau = tonumber(ARGV[1])
local count = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local f = redis.call('HMGET', KEYS[1], 'last', 'rate', 'hsum')
local last = tonumber(f[1])
local rate = tonumber(f[2]) or 0
local hsum = tonumber(f[3]) or 0
local inc = {}
local function flush()
  for field, d in pairs(inc) do redis.call('HINCRBYFLOAT', KEYS[1], field, d) end
  inc = {}
end
for i = 6, #ARGV do
  local now = tonumber(ARGV[i])
  if last == nil then
    last = now
    rate = 1000 / tau
    hsum = 0
  else
    local gap = now - last
    if gap < 0 then gap = 0 end
    rate = rate * math.exp(-gap / tau) + 1000 / tau
    local edge = tonumber(ARGV[2])
    local bucket = 0
    while bucket < count - 1 and gap >= edge do
      edge = edge * 2
      bucket = bucket + 1
    end
    inc['h' .. bucket] = (inc['h' .. bucket] or 0) + 1
    inc['s' .. bucket] = (inc['s' .. bucket] or 0) + gap
    hsum = hsum + 1
    if hsum > cap then
      flush()
      for j = 0, count - 1 do
        for _, p in ipairs({'h', 's'}) do
          local c = tonumber(redis.call('HGET', KEYS[1], p .. j))
          if c then redis.call('HSET', KEYS[1], p .. j, string.format('%.17g', c / 2)) end
        end
      end
      hsum = hsum / 2
    end
    if now > last then last = now end
  end
end
flush()
redis.call('HSET', KEYS[1], 'last', string.format('%d', last), 'rate', string.format('%.17g', rate), 'hsum', string.format('%.17g', hsum))
redis.call('HINCRBY', KEYS[1], 'n', #ARGV - 5)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return #ARGV - 5
`;

/** Records accepted jobs for `model` at the given times (oldest first) in one atomic round trip. */
export async function recordArrivals(redis: RedisClient, keys: Keys, model: string, times: readonly number[]): Promise<void> {
  if (times.length === 0) return;
  const r = redis as RedisClient & { fabricRecordArrivals?: (...args: string[]) => Promise<number> };
  if (!r.fabricRecordArrivals) redis.defineCommand('fabricRecordArrivals', { numberOfKeys: 1, lua: RECORD_ARRIVALS_LUA });
  await r.fabricRecordArrivals!(
    keys.modelArrivals(model),
    String(ARRIVAL_RATE_TAU_MS),
    String(ARRIVAL_BUCKET_BASE_MS),
    String(ARRIVAL_BUCKETS),
    String(ARRIVAL_HISTOGRAM_CAP),
    String(ARRIVAL_TTL_MS),
    ...times.map((t) => String(Math.round(t))),
  );
}

/** Records one accepted job for `model` at `now` in one atomic round trip. */
export async function recordArrival(redis: RedisClient, keys: Keys, model: string, now: number = Date.now()): Promise<void> {
  await recordArrivals(redis, keys, model, [now]);
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
