/**
 * The scaling oracle's fleet size, planned in hindsight from the whole trace. A model is live
 * from its load before a request (its load time from disk plus a margin) until `keepMs` after
 * that request's service ends; on a grid of `gridMs`, each pool needs the workers that its live
 * models take, packed (working-set.ts, filled to `fill` of a worker's memory). At time t a pool
 * holds the most it needs in [t, t + GPU start]: a worker bought at t is ready for what it was
 * bought for, and none is given back that would be needed again before a new one could start.
 * A live model takes as many replicas as its requests in service need slots (their queueing
 * delay left out), packed like the rest (two copies may share a bin, though not a worker).
 */
import type { WorkerClass } from '../model/fleet.ts';
import { decodeMs, footprintBytes, loadMs, prefillMs, type ServiceModel } from '../model/service-model.ts';
import type { ModelSpec, TraceRequest } from '../model/trace.ts';
import { workersFor } from './working-set.ts';

export interface FleetPlanOptions {
  /** How long a model stays live after a request's service ends (ms). */
  readonly keepMs: number;
  /** Share of a worker's memory the packing fills; above 1 the fleet holds less than its live models and the placement evicts. */
  readonly fill: number;
  /** Margin before a request, beyond the model's load time from disk, from which it is live (ms). */
  readonly leadMarginMs: number;
  readonly gridMs: number;
}

export interface FleetPlan {
  /** Workers `pool` should hold at `now`. */
  workers(pool: string, now: number): number;
  /** Whether `model` is live at `now`. */
  isLive(model: string, now: number): boolean;
  /** Replicas the plan holds room for at `now`: enough slots for its requests in service (0 when not live). */
  replicas(model: string, now: number): number;
}

export function planFleet(trace: readonly TraceRequest[], models: readonly ModelSpec[], fleet: readonly WorkerClass[], service: ServiceModel, o: FleetPlanOptions): FleetPlan {
  const sizes = new Map(models.map((m) => [m.name, m.sizeBytes]));
  const spans: { model: string; arrivalMs: number; from: number; doneMs: number }[] = [];
  for (const r of trace) {
    const size = sizes.get(r.model);
    if (size === undefined) continue;
    const from = r.arrivalMs - loadMs(service, size, false) - o.leadMarginMs;
    const doneMs = r.arrivalMs + prefillMs(service, size, r.promptTokens) + decodeMs(service, size, r.outputTokens);
    spans.push({ model: r.model, arrivalMs: r.arrivalMs, from, doneMs });
  }
  const cells = Math.ceil(spans.reduce((t, s) => Math.max(t, s.doneMs + o.keepMs), 0) / o.gridMs) + 2;
  const cell = (ms: number) => Math.max(0, Math.floor(ms / o.gridMs));
  // Per model and grid cell: whether it is live, and its requests in service (each holds a slot).
  const live = new Map<string, Uint8Array>();
  const busy = new Map<string, Uint16Array>();
  for (const { model, arrivalMs, from, doneMs } of spans) {
    if (!live.has(model)) {
      live.set(model, new Uint8Array(cells));
      busy.set(model, new Uint16Array(cells));
    }
    const liveOf = live.get(model)!;
    const busyOf = busy.get(model)!;
    for (let c = cell(from); c <= cell(doneMs + o.keepMs); c++) liveOf[c] = 1;
    for (let c = cell(arrivalMs); c <= cell(doneMs); c++) busyOf[c]!++;
  }
  // Replicas a live model needs in a cell: enough slots for its requests in service, at least one.
  const replicasAt = (model: string, c: number) => (live.get(model)?.[c] ? Math.max(1, Math.ceil((busy.get(model)?.[c] ?? 0) / service.slotsPerReplica)) : 0);
  const need = new Map(fleet.map((c) => [c.pool, new Int32Array(cells)]));
  for (let c = 0; c < cells; c++) {
    const fps: number[] = [];
    for (const model of live.keys()) for (let k = replicasAt(model, c); k > 0; k--) fps.push(footprintBytes(service, sizes.get(model)!));
    for (const [pool, n] of workersFor(fps, fleet, o.fill)) need.get(pool)![c] = n;
  }
  const ahead = Math.ceil(service.gpuStartMs / o.gridMs);
  return {
    workers(pool, now) {
      const n = need.get(pool);
      const min = fleet.find((c) => c.pool === pool)?.min ?? 0;
      if (!n) return min;
      const from = Math.max(0, Math.floor(now / o.gridMs));
      let most = min;
      for (let c = from; c <= Math.min(cells - 1, from + ahead); c++) most = Math.max(most, n[c]!);
      return most;
    },
    isLive(model, now) {
      return live.get(model)?.[cell(now)] === 1;
    },
    replicas(model, now) {
      return replicasAt(model, cell(now));
    },
  };
}
