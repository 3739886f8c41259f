/**
 * The API's read of the fleet: live worker heartbeats and the model catalog, cached briefly
 * so a burst of submissions costs one read, plus the pure choice of a worker for a load.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../protocol/keys.js';
import { footprintOf, usableBytes } from '../protocol/vram-rule.js';
import type { CatalogEntry, Heartbeat } from '../protocol/worker-state.js';

export interface ClusterSnapshot {
  at: number;
  workers: Heartbeat[];
  catalog: Map<string, CatalogEntry>;
  /** Footprints measured at earlier loads, by `<engine> <model>`. */
  measured: Map<string, number>;
}

export class ClusterView {
  private cached: ClusterSnapshot | null = null;
  private inFlight: Promise<ClusterSnapshot> | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly maxAgeMs = 500,
  ) {}

  /** A snapshot no older than `maxAgeMs` (0 forces a fresh read). */
  async snapshot(maxAgeMs = this.maxAgeMs): Promise<ClusterSnapshot> {
    if (this.cached && Date.now() - this.cached.at <= maxAgeMs) return this.cached;
    this.inFlight ??= this.read().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  invalidate(): void {
    this.cached = null;
  }

  private async read(): Promise<ClusterSnapshot> {
    const ids = await this.redis.smembers(this.keys.workersIndex());
    const [raw, catalogRaw, footprintsRaw] = await Promise.all([
      ids.length ? this.redis.mget(ids.map((id) => this.keys.workerHeartbeat(id))) : Promise.resolve([] as (string | null)[]),
      this.redis.hgetall(this.keys.catalog()),
      this.redis.hgetall(this.keys.footprints()),
    ]);
    const workers: Heartbeat[] = [];
    const gone: string[] = [];
    raw.forEach((r, i) => (r ? workers.push(JSON.parse(r) as Heartbeat) : gone.push(ids[i]!)));
    // A worker whose heartbeat expired is gone: drop it from the index.
    if (gone.length) await this.redis.srem(this.keys.workersIndex(), ...gone);
    const catalog = new Map<string, CatalogEntry>();
    for (const [name, json] of Object.entries(catalogRaw)) catalog.set(name, JSON.parse(json) as CatalogEntry);
    const measured = new Map<string, number>();
    for (const [key, json] of Object.entries(footprintsRaw)) measured.set(key, (JSON.parse(json) as { measuredBytes: number }).measuredBytes);
    this.cached = { at: Date.now(), workers, catalog, measured };
    return this.cached;
  }
}

export function residentOn(snap: ClusterSnapshot, model: string): Heartbeat[] {
  return snap.workers.filter((w) => w.resident.some((m) => m.model === model));
}

export function loadingOn(snap: ClusterSnapshot, model: string): Heartbeat[] {
  return snap.workers.filter((w) => w.loading.some((m) => m.model === model));
}

export type LoadPick = { ok: true; worker: Heartbeat; needBytes: number } | { ok: false; reason: string; code: 'already_everywhere' | 'insufficient_vram' };

/**
 * Picks the worker to load `model` on: a running worker of the model's engine that does not
 * already hold or load it and where its footprint fits with headroom; the most room wins.
 */
export function pickWorkerForLoad(snap: ClusterSnapshot, model: string, headroomRatio: number): LoadPick {
  const engine = snap.catalog.get(model)?.engine;
  const eligible = snap.workers
    .filter((w) => w.state === 'running' && w.engineHealthy !== false && (engine === undefined || w.engine === engine))
    .filter((w) => !w.resident.some((m) => m.model === model) && !w.loading.some((m) => m.model === model));
  if (eligible.length === 0) return { ok: false, code: 'already_everywhere', reason: `${model} is already resident or loading on every running worker of its engine` };
  const ranked = eligible
    .map((w) => ({ w, need: footprintOf(snap, model, w.engine), usable: usableBytes(w, headroomRatio) }))
    .sort((a, b) => b.usable - a.usable || a.w.workerId.localeCompare(b.w.workerId));
  const best = ranked[0]!;
  if (best.need.bytes <= best.usable) return { ok: true, worker: best.w, needBytes: best.need.bytes };
  return {
    ok: false,
    code: 'insufficient_vram',
    reason: `${model} needs ${best.need.bytes} bytes (${best.need.basis}); the roomiest worker, ${best.w.workerId}, has ${Math.max(0, best.usable)} usable with ${Math.round(headroomRatio * 100)}% headroom`,
  };
}
