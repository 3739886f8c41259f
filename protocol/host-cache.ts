/**
 * Host memory as a tier: which model files a worker's host holds in its page cache (reported in
 * its heartbeat), and where a load reads its weights from. A load reads from the `host` tier when
 * at least `HOST_TIER_MIN_SHARE` of its file is cached, else from `disk`.
 */
import { z } from 'zod';

const bytes = z.number().finite().nonnegative();

export const LOAD_TIERS = ['disk', 'host'] as const;
export type LoadTier = (typeof LOAD_TIERS)[number];

/** Share of a file that must sit in the page cache for its load to count as a host-tier load. */
export const HOST_TIER_MIN_SHARE = 0.9;

export const cachedModelSchema = z.object({
  model: z.string(),
  /** Size of the model's file(s) on disk. */
  fileBytes: bytes,
  /** Bytes of them in the page cache when measured (mincore). */
  cachedBytes: bytes,
});
export type CachedModelInfo = z.infer<typeof cachedModelSchema>;

export const hostCacheSchema = z.object({
  /** Page cache this worker may fill with model files (FABRIC_HOST_CACHE_BYTES). */
  budgetBytes: bytes,
  /** Models with any bytes cached, most cached first, within the budget. */
  models: z.array(cachedModelSchema),
  /** Models being read into the cache on a `stage` command. */
  staging: z.array(z.string()),
  /** When the cache was last measured, epoch ms. */
  measuredAt: z.number().finite(),
});
export type HostCacheReport = z.infer<typeof hostCacheSchema>;

/** The tier a load of `model` reads from, given a worker's report (disk without one). */
export function tierOf(report: HostCacheReport | undefined, model: string): LoadTier {
  const m = report?.models.find((x) => x.model === model);
  return m && m.fileBytes > 0 && m.cachedBytes >= HOST_TIER_MIN_SHARE * m.fileBytes ? 'host' : 'disk';
}

/** Bytes of the budget the report's cached models use. */
export function cachedBytes(report: HostCacheReport): number {
  return report.models.reduce((s, m) => s + m.cachedBytes, 0);
}
