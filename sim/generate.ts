/**
 * Synthetic workloads for runs without a trace file: Zipf popularity across models, Poisson
 * arrivals modulated by a daily cycle, and short bursts on random models (a batch job, a demo,
 * a new user) that make unpopular models briefly hot. Same seed, same trace.
 */
import type { ModelSpec, TraceRequest } from './model/trace.ts';

export interface GenerateOptions {
  readonly seed: number;
  readonly models: number;
  readonly minModelBytes: number;
  readonly maxModelBytes: number;
  readonly durationMs: number;
  /** Mean arrivals per second over the whole trace, before bursts. */
  readonly meanRatePerSec: number;
  /** Zipf exponent: popularity of the k-th model is proportional to 1 / k^s. */
  readonly zipfS: number;
  /** Length of one "day". Defaults to the trace duration: a full day compressed into the run. */
  readonly dayMs?: number;
  /** Peak-to-mean swing of the daily cycle (0: flat, 0.6: the peak is 1.6x the mean). */
  readonly dailyAmplitude: number;
  /** Bursts per hour across all models, each 1-4 min at `burstRatePerSec` on one model. */
  readonly burstsPerHour: number;
  readonly burstRatePerSec: number;
}

export const GENERATE_DEFAULTS: GenerateOptions = Object.freeze({
  seed: 1,
  models: 12,
  minModelBytes: 1e9,
  maxModelBytes: 40e9,
  durationMs: 2 * 3_600_000,
  meanRatePerSec: 0.5,
  zipfS: 1.1,
  dailyAmplitude: 0.6,
  burstsPerHour: 6,
  burstRatePerSec: 0.2,
});

/** mulberry32: a small, fast, seedable PRNG with good enough statistics for workloads. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Knuth's Poisson sampler; fine for the small means (< 30) drawn per one-second bin here. */
function poisson(rand: () => number, mean: number): number {
  if (mean <= 0) return 0;
  const limit = Math.exp(-mean);
  let k = 0;
  let p = rand();
  while (p > limit) {
    k++;
    p *= rand();
  }
  return k;
}

function logNormalInt(rand: () => number, median: number, sigma: number, min: number, max: number): number {
  const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return Math.max(min, Math.min(max, Math.round(median * Math.exp(sigma * z))));
}

/** Models with log-uniform sizes (stratified), named by size rank; popularity is shuffled by the trace's seed. */
export function generateModels(o: GenerateOptions = GENERATE_DEFAULTS): ModelSpec[] {
  const rand = prng(o.seed * 7919 + 17);
  const lo = Math.log(o.minModelBytes);
  const hi = Math.log(o.maxModelBytes);
  // Stratified: one size per equal slice of the log range, so every seed spans small to large.
  const sizes = Array.from({ length: o.models }, (_, i) => Math.round(Math.exp(lo + ((hi - lo) * (i + rand())) / o.models)));
  return sizes.map((sizeBytes, i) => ({ name: `m${String(i + 1).padStart(2, '0')}-${(sizeBytes / 1e9).toFixed(1)}gb`, sizeBytes }));
}

/** A trace over `models` (the first is not necessarily the most popular: the seed decides). */
export function generateTrace(models: readonly ModelSpec[], input: Partial<GenerateOptions> = {}): TraceRequest[] {
  const o = { ...GENERATE_DEFAULTS, ...input };
  if (models.length === 0 || o.durationMs <= 0) return [];
  const rand = prng(o.seed);
  const order = models.map((m) => m.name);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j] as string, order[i] as string];
  }
  const weights = order.map((_, k) => 1 / (k + 1) ** o.zipfS);
  const total = weights.reduce((s, w) => s + w, 0);
  const share = weights.map((w) => w / total);
  const bursts = burstWindows(rand, o, order.length);
  const dayMs = o.dayMs ?? o.durationMs;

  const out: Omit<TraceRequest, 'id'>[] = [];
  for (let t = 0; t < o.durationMs; t += 1000) {
    const binMs = Math.min(1000, o.durationMs - t);
    // Trough at t = 0 ("midnight"), peak mid-day.
    const cycle = 1 - o.dailyAmplitude * Math.cos((2 * Math.PI * t) / dayMs);
    for (let k = 0; k < order.length; k++) {
      let mean = o.meanRatePerSec * cycle * (share[k] as number);
      for (const b of bursts) if (b.model === k && t >= b.startMs && t < b.endMs) mean += o.burstRatePerSec;
      const n = poisson(rand, (mean * binMs) / 1000);
      for (let i = 0; i < n; i++) {
        out.push({
          arrivalMs: Math.floor(t + rand() * binMs),
          model: order[k] as string,
          promptTokens: logNormalInt(rand, 400, 1.0, 8, 16_000),
          outputTokens: logNormalInt(rand, 200, 0.8, 1, 4_000),
        });
      }
    }
  }
  out.sort((a, b) => a.arrivalMs - b.arrivalMs || a.model.localeCompare(b.model));
  return out.map((r, id) => ({ id, ...r }));
}

function burstWindows(rand: () => number, o: GenerateOptions, models: number): { model: number; startMs: number; endMs: number }[] {
  const count = poisson(rand, (o.burstsPerHour * o.durationMs) / 3_600_000);
  return Array.from({ length: count }, () => {
    const startMs = rand() * o.durationMs;
    return { model: Math.floor(rand() * models), startMs, endMs: startMs + 60_000 + rand() * 180_000 };
  });
}
