/**
 * Load speeds measured per tier, kept in one Redis hash (`keys.loadSpeeds()`) with field
 * `<engine> <tier>`, the way footprints are kept: each worker folds every load it makes into the
 * entry of its engine and the tier the load read from; the scheduler prefers them to its policy's
 * assumed speeds when it estimates a load's time.
 */
import { z } from 'zod';
import { LOAD_TIERS, type LoadTier } from './host-cache.ts';
import { parseJsonAs } from './parse-json.ts';

export const loadSpeedSchema = z.object({
  engine: z.string(),
  tier: z.enum(LOAD_TIERS),
  /** Weighted average of bytes / load time over the loads seen (newer weigh more). */
  bytesPerSec: z.number().finite().positive(),
  /** Loads folded in. */
  samples: z.number().int().positive(),
  /** The last load: its bytes and milliseconds. */
  lastBytes: z.number().finite().nonnegative(),
  lastMs: z.number().finite().nonnegative(),
  at: z.number().finite(),
});
export type LoadSpeed = z.infer<typeof loadSpeedSchema>;

/** Weight of a new load in the average. */
export const LOAD_SPEED_WEIGHT = 0.3;
/** Loads shorter than this measure timers more than transfer: not folded in. */
export const LOAD_SPEED_MIN_MS = 1;

export function loadSpeedKey(engine: string, tier: LoadTier): string {
  return `${engine} ${tier}`;
}

/** `prev` with one more load folded in; `prev` unchanged (or null) when the load measured nothing. */
export function nextLoadSpeed(prev: LoadSpeed | null, load: { engine: string; tier: LoadTier; bytes: number; ms: number; at: number }): LoadSpeed | null {
  if (load.bytes <= 0 || load.ms < LOAD_SPEED_MIN_MS) return prev;
  const rate = (load.bytes / load.ms) * 1000;
  const bytesPerSec = prev ? prev.bytesPerSec * (1 - LOAD_SPEED_WEIGHT) + rate * LOAD_SPEED_WEIGHT : rate;
  return { engine: load.engine, tier: load.tier, bytesPerSec, samples: (prev?.samples ?? 0) + 1, lastBytes: load.bytes, lastMs: load.ms, at: load.at };
}

/** Bytes per second by `<engine> <tier>`; malformed entries are skipped and counted. */
export function parseLoadSpeeds(raw: Record<string, string>): { speeds: Map<string, number>; skipped: number } {
  const speeds = new Map<string, number>();
  let skipped = 0;
  for (const [key, json] of Object.entries(raw)) {
    const e = parseJsonAs(loadSpeedSchema, json);
    if (e) speeds.set(key, e.bytesPerSec);
    else skipped++;
  }
  return { speeds, skipped };
}
