/**
 * The VRAM ledger rule every deployable applies the same way (pure, no I/O):
 * - need = the footprint measured at an earlier load of that model on that engine, else the
 *   catalog's estimate (weights + KV cache + overhead), else the catalog's file size;
 * - usable = free memory (sum of the GPUs' NVML free bytes, else capacity - used) less bytes
 *   reserved by loads in flight, less headroom x capacity.
 * A load is planned only when need <= usable, so no plan can run a GPU out of memory.
 */
import { footprintKey } from './footprints.js';
import type { CatalogEntry, Heartbeat } from './worker-state.js';

/** What `footprintOf` reads: the catalog and measured footprints keyed `<engine> <model>`. */
export interface FootprintView {
  readonly catalog: ReadonlyMap<string, CatalogEntry>;
  /** Measured footprints (hash `keys.footprints()`), by `<engine> <model>`; absent means none measured. */
  readonly measured?: ReadonlyMap<string, number>;
}

export type FootprintBasis = 'measured' | 'estimated';

/** What a model will need on an engine: its measured footprint if one was recorded, else the estimate. */
export function footprintOf(view: FootprintView, model: string, engine: string): { bytes: number; basis: FootprintBasis } {
  const measured = view.measured?.get(footprintKey(engine, model));
  if (measured !== undefined) return { bytes: measured, basis: 'measured' };
  const entry = view.catalog.get(model);
  return { bytes: entry?.estimatedBytes ?? entry?.sizeBytes ?? 0, basis: 'estimated' };
}

/**
 * Usable memory on a worker now: free (GPUs, else capacity less its models) less loads in flight
 * and headroom. `reservedOf` may raise a loading model's reservation (the scheduler counts a
 * commanded load the worker has not yet reserved at its footprint); by default it is `reservedBytes`.
 */
export function usableBytes(w: Heartbeat, headroomRatio: number, reservedOf: (l: Heartbeat['loading'][number]) => number = (l) => l.reservedBytes ?? 0): number {
  const reserved = w.loading.reduce((s, l) => s + reservedOf(l), 0);
  const free = w.gpus.length > 0 ? w.gpus.reduce((s, g) => s + g.memoryFreeBytes, 0) : w.capacityBytes - w.usedBytes;
  return Math.floor(free - reserved - headroomRatio * w.capacityBytes);
}
