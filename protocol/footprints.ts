/**
 * Footprints measured when a model loaded, kept in one Redis hash (`keys.footprints()`) with
 * field `<engine> <model>`: the worker records them, the VRAM rule prefers them to estimates.
 */
import { z } from 'zod';
import { parseJsonAs } from './parse-json.ts';

export const measuredFootprintSchema = z.object({
  engine: z.string(),
  model: z.string(),
  estimatedBytes: z.number().finite().nonnegative(),
  measuredBytes: z.number().finite().nonnegative(),
  at: z.number().finite(),
});
export type MeasuredFootprint = z.infer<typeof measuredFootprintSchema>;

/** What the VRAM rule needs from an entry: measured bytes above zero (zero means nothing was measured). */
const measuredBytesSchema = z.object({ measuredBytes: z.number().finite().positive() });

/** The field of a measured footprint: `<engine> <model>`. */
export function footprintKey(engine: string, model: string): string {
  return `${engine} ${model}`;
}

/** Measured bytes by `<engine> <model>`; malformed entries are skipped and counted in `skipped`. */
export function parseMeasured(raw: Record<string, string>): { measured: Map<string, number>; skipped: number } {
  const measured = new Map<string, number>();
  let skipped = 0;
  for (const [key, json] of Object.entries(raw)) {
    const e = parseJsonAs(measuredBytesSchema, json);
    if (e) measured.set(key, e.measuredBytes);
    else skipped++;
  }
  return { measured, skipped };
}

