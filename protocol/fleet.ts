/**
 * Reading the fleet: worker heartbeats, the model catalog and measured footprints, validated
 * against their schemas (protocol/worker-state.ts, protocol/footprints.ts). One policy for a
 * bad entry everywhere: it is skipped and counted (`fabric_fleet_entries_skipped_total`), so
 * one bad writer cannot stop the API or the scheduler from serving the rest.
 */
import { Counter, type Registry } from 'prom-client';
import type { z } from 'zod';
import { parseMeasured } from './footprints.ts';
import { parseLoadSpeeds } from './load-speeds.ts';
import { parseJsonAs } from './parse-json.ts';
import { catalogEntrySchema, heartbeatSchema, type CatalogEntry, type Heartbeat } from './worker-state.ts';

export type FleetEntryKind = 'heartbeat' | 'catalog' | 'footprint' | 'load_speed';

export interface Fleet {
  /** Workers whose heartbeat key has not expired, in any lifecycle state. */
  readonly workers: readonly Heartbeat[];
  readonly catalog: ReadonlyMap<string, CatalogEntry>;
  /** Footprints measured at earlier loads, bytes by `footprintKey(engine, model)`. */
  readonly measured: ReadonlyMap<string, number>;
}

/** One per process; each service's registry exposes it (`registerFleetMetrics`). */
const skippedEntries = new Counter({ name: 'fabric_fleet_entries_skipped_total', help: 'Heartbeat, catalog or footprint entries skipped as malformed', labelNames: ['kind'] as const, registers: [] });

/** Exposes the fleet readers' counter on `registry`. */
export function registerFleetMetrics(registry: Registry): void {
  if (!registry.getSingleMetric('fabric_fleet_entries_skipped_total')) registry.registerMetric(skippedEntries);
}

function skipped(kind: FleetEntryKind, n: number): void {
  if (n > 0) skippedEntries.inc({ kind }, n);
}

function parseEntry<T extends object>(schema: z.ZodType<T>, raw: string): T | null {
  const v = parseJsonAs(schema, raw);
  return v && Object.freeze(v);
}

/** Heartbeats from an MGET; null (expired) entries are gone workers, not counted as skipped. */
export function parseHeartbeats(raw: readonly (string | null)[]): Heartbeat[] {
  const workers: Heartbeat[] = [];
  let bad = 0;
  for (const r of raw) {
    if (r === null) continue;
    const hb = parseEntry(heartbeatSchema, r);
    if (hb) workers.push(hb);
    else bad++;
  }
  skipped('heartbeat', bad);
  return workers;
}

/** The catalog hash (model -> entry JSON). */
export function parseCatalog(raw: Record<string, string>): Map<string, CatalogEntry> {
  const catalog = new Map<string, CatalogEntry>();
  let bad = 0;
  for (const [name, json] of Object.entries(raw)) {
    const e = parseEntry(catalogEntrySchema, json);
    if (e) catalog.set(name, e);
    else bad++;
  }
  skipped('catalog', bad);
  return catalog;
}

/** The load speeds hash (`<engine> <tier>` -> entry JSON) as bytes per second. */
export function parseLoadSpeedEntries(raw: Record<string, string>): Map<string, number> {
  const { speeds, skipped: bad } = parseLoadSpeeds(raw);
  skipped('load_speed', bad);
  return speeds;
}

/** The footprints hash (`<engine> <model>` -> entry JSON) as measured bytes. */
export function parseFootprints(raw: Record<string, string>): Map<string, number> {
  const { measured, skipped: bad } = parseMeasured(raw);
  skipped('footprint', bad);
  return measured;
}

