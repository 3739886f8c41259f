/**
 * The API's read of the fleet: live worker heartbeats and the model catalog, cached briefly
 * so a burst of submissions costs one read, plus the pure choice of a worker for a load.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../protocol/keys.js';
import type { CatalogEntry, Heartbeat } from '../protocol/worker-state.js';

export interface ClusterSnapshot {
  at: number;
  workers: Heartbeat[];
  catalog: Map<string, CatalogEntry>;
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
    const [raw, catalogRaw] = await Promise.all([
      ids.length ? this.redis.mget(ids.map((id) => this.keys.workerHeartbeat(id))) : Promise.resolve([] as (string | null)[]),
      this.redis.hgetall(this.keys.catalog()),
    ]);
    const workers: Heartbeat[] = [];
    const gone: string[] = [];
    raw.forEach((r, i) => (r ? workers.push(JSON.parse(r) as Heartbeat) : gone.push(ids[i]!)));
    // A worker whose heartbeat expired is gone: drop it from the index.
    if (gone.length) await this.redis.srem(this.keys.workersIndex(), ...gone);
    const catalog = new Map<string, CatalogEntry>();
    for (const [name, json] of Object.entries(catalogRaw)) catalog.set(name, JSON.parse(json) as CatalogEntry);
    this.cached = { at: Date.now(), workers, catalog };
    return this.cached;
  }
}

export function residentOn(snap: ClusterSnapshot, model: string): Heartbeat[] {
  return snap.workers.filter((w) => w.resident.some((m) => m.model === model));
}

export function loadingOn(snap: ClusterSnapshot, model: string): Heartbeat[] {
  return snap.workers.filter((w) => w.loading.some((m) => m.model === model));
}

/**
 * Picks the worker to load `model` on: a running worker that does not already hold or load it,
 * with room for its size; the one with the most free memory wins. `undefined` if none fits.
 */
export function pickWorkerForLoad(snap: ClusterSnapshot, model: string, sizeBytes: number): Heartbeat | undefined {
  const candidates = snap.workers
    .filter((w) => w.state === 'running')
    .filter((w) => !w.resident.some((m) => m.model === model) && !w.loading.some((m) => m.model === model))
    .map((w) => ({ w, free: w.capacityBytes - w.usedBytes - loadingBytes(snap, w) }))
    .filter((c) => c.free >= sizeBytes)
    .sort((a, b) => b.free - a.free || a.w.workerId.localeCompare(b.w.workerId));
  return candidates[0]?.w;
}

function loadingBytes(snap: ClusterSnapshot, w: Heartbeat): number {
  return w.loading.reduce((s, l) => s + (snap.catalog.get(l.model)?.sizeBytes ?? 0), 0);
}
