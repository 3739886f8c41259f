/**
 * `scaling-oracle`: the oracle's hindsight placement with a fleet sized in hindsight too, a
 * heuristic reference for what autoscaling could reach on a trace, not a proven optimum.
 * - Size: each pool holds what the plan from the whole trace says (fleet-plan.ts): the live
 *   models packed, bought a GPU start ahead, so no request waits on a GPU start. `keepMs` is how
 *   long a model stays live after a request (a shorter keep spends fewer GPU-seconds and reloads
 *   more); `fill` above 1 holds less memory than the live models take, trading waits for cost.
 * - Shrink: the surplus workers holding the fewest live bytes (a starting one first) stop
 *   taking loads, unload what is idle (and drain what is no longer live) and go once empty.
 * - Place: a queued model with no replica, then a model whose next request comes within its
 *   load time (prefetch), goes on its home pool where it fits, else evicts the idle replicas
 *   needed furthest in the future (Belady) that are needed after it. Without `prefetch` a model
 *   is loaded only once a request for it waits (`scaling-oracle-on-arrival`): what hindsight
 *   sizing and eviction reach without knowing when the next request comes.
 */
import { loadMs } from '../model/service-model.ts';
import type { TraceRequest } from '../model/trace.ts';
import { planFleet, type FleetPlan } from './fleet-plan.ts';
import { arrivalsByModel, nextAfter } from './oracle.ts';
import { footprint, Planner } from './planner.ts';
import { coldQueuedModels, hasReplica, isIdle, type GpuView, type ReplicaView, type SimAction, type SimPolicy, type SimView } from './policy.ts';
import { homePool, workersFor } from './working-set.ts';

export interface ScalingOracleOptions {
  /** How long a model stays live after a request's service ends (ms). */
  readonly keepMs: number;
  /** Share of a worker's memory the sizing packs (1: tight; above 1: fewer workers than the live models take). */
  readonly fill: number;
  /** A model is loaded (and live) this long before its next request beyond its load time from disk (ms). */
  readonly leadMarginMs: number;
  /** Loads models ahead of their requests; without it only a queued model is loaded (the fleet is still sized in hindsight). */
  readonly prefetch: boolean;
}

export const SCALING_ORACLE_DEFAULTS: ScalingOracleOptions = Object.freeze({ keepMs: 60_000, fill: 1, leadMarginMs: 4_000, prefetch: true });

/** The name of the scaling oracle without prefetch: it loads a model when its request arrives, as an online policy must. */
export const SCALING_ORACLE_ON_ARRIVAL = 'scaling-oracle-on-arrival';

/**
 * The settings the sweep runs the scaling oracle at, its own frontier of GPU-seconds against
 * p95: the keep shortened to 0, then the fleet packed ever fuller.
 */
export const SCALING_ORACLE_SETTINGS: readonly Pick<ScalingOracleOptions, 'keepMs' | 'fill'>[] = [
  { keepMs: 5 * 60_000, fill: 1 },
  { keepMs: 60_000, fill: 1 },
  ...[1, 1.1, 1.2, 1.3, 1.5, 2].map((fill) => ({ keepMs: 0, fill })),
];

export function scalingOraclePolicy(trace: readonly TraceRequest[], input: Partial<ScalingOracleOptions> = {}): SimPolicy {
  const o = { ...SCALING_ORACLE_DEFAULTS, ...input };
  const arrivals = arrivalsByModel(trace);
  const nextUse = (model: string, now: number) => nextAfter(arrivals.get(model) ?? [], now);
  /** Workers on their way out: they take no loads and are released once empty. */
  const leaving = new Set<string>();
  let plan: FleetPlan | undefined;

  function size(view: SimView, p: Planner, plan: FleetPlan): void {
    // Models with requests queued or running hold their place beyond the plan (a backlog outlasts its requests' planned service).
    const busy = new Set(view.queuedModels());
    for (const g of view.gpus) for (const r of g.replicas) if (r.active > 0) busy.add(r.model);
    const backlog = workersFor([...busy].map((m) => footprint(view, m)), view.fleet, o.fill);
    const isLive = (model: string) => busy.has(model) || plan.isLive(model, view.now);
    const liveBytes = (g: GpuView) => g.replicas.filter((r) => isLive(r.model)).reduce((s, r) => s + r.footprintBytes, 0);
    for (const c of view.fleet) {
      const inPool = view.gpus.filter((g) => g.pool === c.pool);
      const live = inPool.filter((g) => !leaving.has(g.id));
      const target = Math.max(plan.workers(c.pool, view.now), backlog.get(c.pool) ?? 0);
      if (target > live.length) {
        let short = target - live.length;
        for (const g of inPool.filter((x) => leaving.has(x.id))) if (short > 0 && leaving.delete(g.id)) short--;
        if (short > 0) p.actions.push({ type: 'scale', gpus: inPool.length + short, pool: c.pool });
      } else if (target < live.length) {
        const starting = (g: GpuView) => (g.state === 'starting' ? 0 : 1);
        const order = live.sort((a, b) => starting(a) - starting(b) || liveBytes(a) - liveBytes(b) || b.index - a.index);
        for (const g of order.slice(0, live.length - target)) leaving.add(g.id);
      }
    }
    const count = new Map(view.fleet.map((c) => [c.pool, view.gpus.filter((g) => g.pool === c.pool).length]));
    for (const g of view.gpus.filter((x) => leaving.has(x.id))) {
      const min = view.fleet.find((k) => k.pool === g.pool)?.min ?? 0;
      for (const r of p.remaining(g)) if (r.state === 'ready' && !r.draining && (isIdle(r) || !isLive(r.model))) p.unload(r);
      // Idle replicas go at once (the engine frees them on unload); busy ones drain first.
      if (g.replicas.every(isIdle) && (count.get(g.pool) ?? 0) > min) {
        p.actions.push({ type: 'release', gpu: g.id }); // stays in `leaving` (no load goes there) until the next step prunes it
        count.set(g.pool, (count.get(g.pool) ?? 0) - 1);
      }
    }
  }

  /** Puts `model` (needed at `at`) on a live worker, its home pool first, where it fits, else evicts for it. */
  function place(view: SimView, p: Planner, model: string, at: number): void {
    const fp = footprint(view, model);
    const home = homePool(view.fleet, fp)?.pool;
    const away = (g: GpuView) => (g.pool === home ? 0 : 1);
    const stays = (g: GpuView) => !leaving.has(g.id);
    const fits = p.fitting(model, fp, stays).sort((a, b) => away(a) - away(b));
    if (fits[0]) return p.load(fits[0], model);
    const furthestFirst = (g: GpuView) =>
      p
        .idle(g)
        .filter((r) => nextUse(r.model, view.now) > at)
        .sort((a, b) => nextUse(b.model, view.now) - nextUse(a.model, view.now) || a.model.localeCompare(b.model));
    const soonest = (vs: ReplicaView[]) => Math.min(...vs.map((v) => nextUse(v.model, view.now)));
    const options = p.evictionOptions(model, fp, furthestFirst, stays);
    options.sort((a, b) => away(a.gpu) - away(b.gpu) || soonest(b.victims) - soonest(a.victims) || a.victims.length - b.victims.length);
    const best = options[0];
    if (!best) return;
    for (const v of best.victims) p.unload(v);
    p.load(best.gpu, model);
  }

  /** Loads each model whose next request comes within its load time from disk (and the margin), soonest first. */
  function prefetch(view: SimView, p: Planner): void {
    const soon: { model: string; at: number }[] = [];
    for (const [model, info] of view.models) {
      const at = nextUse(model, view.now);
      if (at <= view.now + loadMs(view.service, info.sizeBytes, false) + o.leadMarginMs && !hasReplica(view, model) && !p.placedNow(model)) soon.push({ model, at });
    }
    for (const s of soon.sort((a, b) => a.at - b.at)) place(view, p, s.model, s.at);
  }

  function step(view: SimView): SimAction[] {
    plan ??= planFleet(trace, [...view.models.values()], view.fleet, view.service, { keepMs: o.keepMs, fill: o.fill, leadMarginMs: o.leadMarginMs, gridMs: view.tickMs });
    for (const id of leaving) if (!view.gpus.some((g) => g.id === id)) leaving.delete(id);
    const p = new Planner(view);
    size(view, p, plan);
    for (const model of coldQueuedModels(view)) if (!p.placedNow(model)) place(view, p, model, view.now);
    if (o.prefetch) prefetch(view, p);
    return p.actions;
  }

  return { name: o.prefetch ? 'scaling-oracle' : SCALING_ORACLE_ON_ARRIVAL, onArrival: step, onTick: step, onLoadDone: step, onRequestDone: step };
}
