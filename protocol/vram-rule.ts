/**
 * The VRAM ledger rule every deployable applies the same way (pure, no I/O):
 * - need = the footprint measured at an earlier load of that model on that engine, else the
 *   catalog's estimate (weights + KV cache + overhead), else the catalog's file size;
 * - usable = free memory (sum of the GPUs' NVML free bytes, else capacity - used) less bytes
 *   reserved by loads in flight, less headroom x capacity, headroom being the share the worker
 *   publishes in its heartbeat (FABRIC_VRAM_HEADROOM, read by the worker only).
 * A load is planned only when need <= usable, so no plan can run a GPU out of memory.
 * The worker's own check before a load (`planLoad`) and the planners' (`usableBytes`) both
 * compute usable memory with `usableMemory`.
 */
import { footprintKey } from './footprints.ts';
import type { CatalogEntry, Heartbeat } from './worker-state.ts';

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

/** Share of capacity a worker keeps free unless FABRIC_VRAM_HEADROOM says otherwise. */
export const DEFAULT_VRAM_HEADROOM = 0.1;

/** The rule itself: free less reservations less headroom x capacity (may be negative). */
export function usableMemory(m: { freeBytes: number; reservedBytes: number; capacityBytes: number; headroomRatio: number }): number {
  return Math.floor(m.freeBytes - m.reservedBytes - m.headroomRatio * m.capacityBytes);
}

/**
 * Usable memory on a worker now, with the headroom its heartbeat states: free (GPUs, else capacity less its models) less loads in flight
 * and headroom. `reservedOf` may raise a loading model's reservation (the scheduler counts a
 * commanded load the worker has not yet reserved at its footprint); by default it is `reservedBytes`.
 */
export function usableBytes(w: Heartbeat, reservedOf: (l: Heartbeat['loading'][number]) => number = (l) => l.reservedBytes ?? 0): number {
  const reservedBytes = w.loading.reduce((s, l) => s + reservedOf(l), 0);
  const freeBytes = w.gpus.length > 0 ? w.gpus.reduce((s, g) => s + g.memoryFreeBytes, 0) : w.capacityBytes - w.usedBytes;
  return usableMemory({ freeBytes, reservedBytes, capacityBytes: w.capacityBytes, headroomRatio: w.headroomRatio });
}
