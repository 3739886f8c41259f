/**
 * Policy `fabric`: the real scheduler's `decide(snapshot, policy)` on simulated state. Each GPU
 * is one worker (engine `sim`); the snapshot is built from the engine's view exactly as
 * `readSnapshot` would read it from heartbeats, the catalog and the queues, with two
 * simplifications: heartbeats are never stale, and the catalog's VRAM estimate equals the
 * footprint the engine will charge (the real estimate can be off; see protocol/vram-rule.ts).
 *
 * Like the real scheduler it decides on every tick, is woken at once by an arrival for a model
 * with no resident or loading replica, and, while such a cold backlog waits for room, by a
 * replica going idle or a load landing. Actions map one to one: load, unload, scale (per pool);
 * a drain unloads everything on the worker and marks it `draining`; a release removes it.
 */
import { arrivalStatsAt, nextArrivalRecord, type ArrivalRecord, type ArrivalStats } from '../../protocol/arrivals.ts';
import { footprintKey } from '../../protocol/footprints.ts';
import type { HostCacheReport } from '../../protocol/host-cache.ts';
import { loadSpeedKey } from '../../protocol/load-speeds.ts';
import type { CatalogEntry, GpuInfo, Heartbeat, ResidentModelInfo } from '../../protocol/worker-state.ts';
import { decide, type Action } from '../../scheduler/decide.ts';
import { schedulerPolicy, type SchedulerPolicy, type SchedulerPolicyInput, type WorkerPoolSpec } from '../../scheduler/policy.ts';
import type { QueueDepth, Snapshot } from '../../scheduler/snapshot.ts';
import { coldQueuedModels, hasReplica, type GpuView, type SimAction, type SimPolicy, type SimView } from './policy.ts';

export const SIM_ENGINE = 'sim';

export interface FabricPolicyOptions {
  /**
   * Overrides of the scheduler's policy knobs; `maxWorkers` defaults to the sim's --max-gpus, the
   * rest to the production defaults.
   */
  readonly policy?: SchedulerPolicyInput;
  /** Sees every decision (its snapshot and actions): for reason counts and debugging. */
  readonly observe?: (snap: Snapshot, actions: readonly Action[]) => void;
  /**
   * Host memory as a tier (scheduler/host-tier.ts): heartbeats report each host's page cache and
   * the scheduler stages and places by it. False: the scheduler as it was before the tier, which
   * sees no page cache and never stages (policy `fabric-no-tier`). @defaultValue true
   */
  readonly hostTier?: boolean;
}

export function fabricPolicy(o: FabricPolicyOptions = {}): SimPolicy {
  const tier = o.hostTier ?? true;
  const history = new Map<string, ArrivalRecord>();
  const measured = new Map<string, number>();
  let policy: SchedulerPolicy | undefined;

  /** Workers told to drain (the real worker reports `draining` in its heartbeat from then on). */
  const draining = new Set<string>();
  /** When the last scale change (drain, release or resize) was made: the real scheduler's `lastScaleAt`. */
  let lastScaleAt: number | undefined;

  function run(view: SimView): SimAction[] {
    // Headroom guards against a footprint estimate that is off; here the estimate is exactly the
    // footprint the engine charges (see the header), so the sim's heartbeats publish none, as the baselines plan.
    // The fleet's minimum is its pools' (0 where every pool may scale to zero); a new worker
    // takes the service model's GPU start, which the real scheduler reads from FABRIC_WORKER_START_TIME.
    const minWorkers = view.fleet.reduce((s, c) => s + c.min, 0);
    policy ??= schedulerPolicy({ maxWorkers: view.maxGpus, minWorkers, workerStartMs: view.service.gpuStartMs, pools: poolsOf(view), ...(tier ? {} : { stageMaxPerDecision: 0 }), ...o.policy });
    for (const g of view.gpus) for (const r of g.replicas) if (r.state === 'ready') measured.set(footprintKey(SIM_ENGINE, r.model), r.footprintBytes);
    for (const id of draining) if (!view.gpus.some((g) => g.id === id)) draining.delete(id);
    const built = buildSnapshot(view, history, measured, draining, tier);
    const snap = lastScaleAt === undefined ? built : { ...built, lastScaleAt };
    const actions = decide(snap, policy);
    o.observe?.(snap, actions);
    return actions.flatMap((a) => toSimAction(a, view));
  }

  function toSimAction(a: Action, view: SimView): SimAction[] {
    switch (a.type) {
      case 'load':
        return [{ type: 'load', model: a.model, gpu: a.worker }];
      case 'unload':
        return [{ type: 'unload', model: a.model, gpu: a.worker }];
      case 'stage':
        return [{ type: 'stage', model: a.model, gpu: a.worker }];
      case 'drain': {
        // The worker stops taking jobs and unloads everything (busy replicas finish first).
        draining.add(a.worker);
        lastScaleAt = view.now;
        const g = view.gpus.find((x) => x.id === a.worker);
        return (g?.replicas ?? []).filter((r) => r.state === 'ready' && !r.draining).map((r) => ({ type: 'unload', model: r.model, gpu: g!.id }));
      }
      case 'scale': {
        const pool = a.pool === undefined ? {} : { pool: a.pool };
        const current = view.gpus.filter((g) => a.pool === undefined || g.pool === a.pool).length;
        if (a.desiredWorkers !== current) lastScaleAt = view.now;
        if (a.release) return [{ type: 'release', gpu: a.release.worker }];
        return [{ type: 'scale', gpus: a.desiredWorkers, ...pool }];
      }
    }
  }

  return {
    name: tier ? 'fabric' : 'fabric-no-tier',
    onArrival(view, req) {
      history.set(req.model, nextArrivalRecord(history.get(req.model), req.arrivalMs));
      // The API wakes the scheduler only for a job whose model has no replica at all.
      return hasReplica(view, req.model) ? [] : run(view);
    },
    onTick: run,
    // Workers signal when a model goes idle on them or a load lands; the scheduler decides on
    // such a signal only while a cold backlog is blocked (scheduler.ts), as here.
    onRequestDone(view, req, gpuId) {
      const r = view.gpus.find((g) => g.id === gpuId)?.replicas.find((x) => x.model === req.model);
      return r && r.active === 0 && coldQueuedModels(view).length > 0 ? run(view) : [];
    },
    onLoadDone: (view) => (coldQueuedModels(view).length > 0 ? run(view) : []),
  };
}

/** The fleet's classes as the scheduler's worker pools (the real scheduler reads FABRIC_WORKER_POOLS). */
function poolsOf(view: SimView): WorkerPoolSpec[] {
  return view.fleet.map((c) => ({ name: c.pool, gpuBytes: c.gpuMemBytes, gpus: c.gpusPerWorker, minWorkers: c.min, maxWorkers: c.max }));
}

/** The snapshot `readSnapshot` would return for this simulated cluster at `view.now`. */
export function buildSnapshot(
  view: SimView,
  history: ReadonlyMap<string, ArrivalRecord> = new Map(),
  measured: ReadonlyMap<string, number> = new Map(),
  draining: ReadonlySet<string> = new Set(),
  hostTier = false,
): Snapshot {
  const catalog = new Map<string, CatalogEntry>();
  const queues = new Map<string, QueueDepth>();
  const active = new Map<string, number>();
  for (const g of view.gpus) for (const r of g.replicas) active.set(r.model, (active.get(r.model) ?? 0) + r.active);
  for (const m of view.models.values()) {
    catalog.set(m.name, catalogEntry(m.name, m.sizeBytes, m.footprintBytes));
    const q = view.queue(m.name);
    queues.set(m.name, { waiting: q.waiting, active: active.get(m.name) ?? 0, oldestWaitMs: q.oldestArrivalMs === null ? null : Math.max(0, view.now - q.oldestArrivalMs) });
  }
  const arrivals = new Map<string, ArrivalStats>();
  for (const [model, rec] of history) arrivals.set(model, arrivalStatsAt(rec, view.now));
  // Built as a variable, not a literal: fields the Snapshot type may not declare yet pass through.
  // With the host tier, the load speeds the workers would have measured are the service model's.
  const loadSpeeds = new Map(hostTier ? [[loadSpeedKey(SIM_ENGINE, 'disk'), view.service.diskBytesPerSec], [loadSpeedKey(SIM_ENGINE, 'host'), view.service.hostCacheBytesPerSec]] : []);
  const snap = { now: view.now, workers: view.gpus.map((g) => heartbeat(view, g, draining.has(g.id), hostTier)), catalog, queues, arrivals, measured, ...(hostTier ? { loadSpeeds } : {}) };
  return snap;
}

function catalogEntry(name: string, sizeBytes: number, footprintBytes: number): CatalogEntry {
  return { name, sizeBytes, engine: SIM_ENGINE, family: null, parameterSize: null, quantization: null, digest: null, modifiedAt: '', contextLength: null, estimatedBytes: footprintBytes };
}

function heartbeat(view: SimView, g: GpuView, draining: boolean, hostTier: boolean): Heartbeat {
  const slots = view.service.slotsPerReplica;
  const ready = g.replicas.filter((r) => r.state === 'ready');
  // A replica told to unload while busy is no longer listed (the worker drops it from its models
  // at once and drains it), but its memory stays in use until its last job ends, as NVML reads it.
  const resident: ResidentModelInfo[] = ready.filter((r) => !r.draining).map((r) => ({
    model: r.model,
    sizeBytes: r.footprintBytes,
    sizeVramBytes: r.footprintBytes,
    estimatedBytes: r.footprintBytes,
    loadedAt: r.loadedAt ?? r.loadStartedAt,
    lastUsedAt: r.lastUsedAt,
    activeJobs: r.active,
  }));
  const activeJobs = ready.reduce((s, r) => s + r.active, 0);
  // Per GPU, as NVML would read it; a loading replica is not counted (its reservation is).
  const gpus: GpuInfo[] = g.deviceUsedBytes.map((_, index) => {
    const usedNow = ready.reduce((s, r) => s + (r.perDevice ? (r.perDevice[index] ?? 0) : index === 0 ? r.footprintBytes : 0), 0);
    return { index, uuid: `${g.id}-${index}`, name: 'sim', memoryTotalBytes: g.gpuMemBytes, memoryUsedBytes: usedNow, memoryFreeBytes: g.gpuMemBytes - usedNow, utilization: null };
  });
  return {
    workerId: g.id,
    engine: SIM_ENGINE,
    pool: g.pool,
    host: g.id,
    pid: 0,
    state: draining ? 'draining' : g.state,
    ...(draining ? { drainedForScaleDown: true } : {}),
    startedAt: g.provisionedAt,
    at: view.now,
    capacityBytes: g.memBytes,
    usedBytes: ready.reduce((s, r) => s + r.footprintBytes, 0),
    gpus,
    slotsPerModel: slots,
    resident,
    loading: g.replicas.filter((r) => r.state === 'loading').map((r) => ({ model: r.model, startedAt: r.loadStartedAt, reservedBytes: r.footprintBytes })),
    activeJobs,
    freeSlots: ready.filter((r) => !r.draining).length * slots - activeJobs,
    engineHealthy: true,
    // Headroom guards against a footprint estimate that is off; here the estimate is exactly the
    // footprint the engine charges (see the header), so simulated workers keep none, as the baselines do.
    headroomRatio: 0,
    lastUsedAt: ready.reduce((s, r) => Math.max(s, r.lastUsedAt), g.provisionedAt),
    ...(hostTier ? { hostCache: hostCacheOf(view, g) } : {}),
  };
}

/** The page cache as the worker measures it: whole files, most recently read first. */
function hostCacheOf(view: SimView, g: GpuView): HostCacheReport {
  const models = [...(g.hostCached ?? [])].reverse().map((f) => ({ model: f.model, fileBytes: f.bytes, cachedBytes: f.bytes }));
  return { budgetBytes: g.hostMemBytes ?? 0, models, staging: [...(g.staging ?? [])], measuredAt: view.now };
}
