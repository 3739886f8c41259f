/**
 * The API's read of the fleet: live worker heartbeats and the model catalog, cached briefly
 * so a burst of submissions costs one read, plus the pure choice of a worker for a load.
 */
import { type OperatorHold } from '../../protocol/operator-holds.ts';
import type { RedisClient } from '../../store/redis-client.ts';
import { readFleet } from '../../store/fleet-reader.ts';
import { type Fleet } from '../../protocol/fleet.ts';
import type { Keys } from '../../protocol/keys.ts';
import { footprintOf, usableBytes } from '../../protocol/vram-rule.ts';
import type { Heartbeat } from '../../protocol/worker-state.ts';
import type { DerivedModel } from '../../protocol/model-aliases.ts';

export interface FleetSnapshot extends Fleet {
  readonly at: number;
  /** Operators' holds and pins by model. */
  readonly holds: ReadonlyMap<string, OperatorHold>;
  /** Aliases and derived models by name (absent in snapshots built without them). */
  readonly aliases?: ReadonlyMap<string, DerivedModel>;
}

export class FleetView {
  private cached: FleetSnapshot | null = null;
  private inFlight: Promise<FleetSnapshot> | null = null;

  private readonly redis: RedisClient;
  private readonly keys: Keys;
  private readonly maxAgeMs: number;
  constructor(
    redis: RedisClient,
    keys: Keys,
    maxAgeMs = 500,
  ) {
    this.redis = redis;
    this.keys = keys;
    this.maxAgeMs = maxAgeMs;
  }

  /** A snapshot no older than `maxAgeMs` (0 forces a fresh read). */
  async snapshot(maxAgeMs = this.maxAgeMs): Promise<FleetSnapshot> {
    if (this.cached && Date.now() - this.cached.at <= maxAgeMs) return this.cached;
    this.inFlight ??= this.read().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  invalidate(): void {
    this.cached = null;
  }

  private async read(): Promise<FleetSnapshot> {
    const { gone, workers, catalog, measured, holds, aliases } = await readFleet(this.redis, this.keys);
    // A worker whose heartbeat expired is gone: drop it from the index.
    if (gone.length) await this.redis.srem(this.keys.workersIndex(), ...gone);
    this.cached = { at: Date.now(), workers, catalog, measured, holds, aliases };
    return this.cached;
  }
}

/** The catalog model a name runs on: the base of an alias or derived model, else the name itself. */
export function baseModelOf(snap: FleetSnapshot, model: string): string {
  return snap.catalog.has(model) ? model : (snap.aliases?.get(model)?.from ?? model);
}

export function residentOn(snap: FleetSnapshot, model: string): Heartbeat[] {
  return snap.workers.filter((w) => w.resident.some((m) => m.model === model));
}

export function loadingOn(snap: FleetSnapshot, model: string): Heartbeat[] {
  return snap.workers.filter((w) => w.loading.some((m) => m.model === model));
}

export type LoadPick = { ok: true; worker: Heartbeat; needBytes: number } | { ok: false; reason: string; code: 'already_everywhere' | 'insufficient_vram' };

/**
 * Picks the worker to load `model` on: a running worker of the model's engine that does not
 * already hold or load it and where its footprint fits with the headroom it publishes; the most room wins.
 */
export function pickWorkerForLoad(snap: FleetSnapshot, model: string): LoadPick {
  const engine = snap.catalog.get(model)?.engine;
  const eligible = snap.workers
    .filter((w) => w.state === 'running' && w.engineHealthy !== false && (engine === undefined || w.engine === engine))
    .filter((w) => !w.resident.some((m) => m.model === model) && !w.loading.some((m) => m.model === model));
  if (eligible.length === 0) return { ok: false, code: 'already_everywhere', reason: `${model} is already resident or loading on every running worker of its engine` };
  const ranked = eligible
    .map((w) => ({ w, need: footprintOf(snap, model, w.engine), usable: usableBytes(w) }))
    .sort((a, b) => b.usable - a.usable || a.w.workerId.localeCompare(b.w.workerId));
  const best = ranked[0]!;
  if (best.need.bytes <= best.usable) return { ok: true, worker: best.w, needBytes: best.need.bytes };
  return {
    ok: false,
    code: 'insufficient_vram',
    reason: `${model} needs ${best.need.bytes} bytes (${best.need.basis}); the roomiest worker, ${best.w.workerId}, has ${Math.max(0, best.usable)} usable with ${Math.round(best.w.headroomRatio * 100)}% headroom`,
  };
}
