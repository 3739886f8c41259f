/**
 * The scaling oracle's fleet size, planned in hindsight from the whole trace. A model is live
 * from its load before a request (its load time from disk plus a margin) until `keepMs` after
 * that request's service ends; on a grid of `gridMs`, each pool needs the workers that its live
 * models take, packed (working-set.ts, filled to `fill` of a worker's memory). At time t a pool
 * holds the most it needs in [t, t + GPU start]: a worker bought at t is ready for what it was
 * bought for, and none is given back that would be needed again before a new one could start.
 * Queueing and multi-replica demand are left out: one replica per model, as the oracle places.
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
}

export function planFleet(trace: readonly TraceRequest[], models: readonly ModelSpec[], fleet: readonly WorkerClass[], service: ServiceModel, o: FleetPlanOptions): FleetPlan {
  const sizes = new Map(models.map((m) => [m.name, m.sizeBytes]));
  const spans: { model: string; from: number; to: number }[] = [];
  for (const r of trace) {
    const size = sizes.get(r.model);
    if (size === undefined) continue;
    const from = r.arrivalMs - loadMs(service, size, false) - o.leadMarginMs;
    const to = r.arrivalMs + prefillMs(service, size, r.promptTokens) + decodeMs(service, size, r.outputTokens) + o.keepMs;
    spans.push({ model: r.model, from, to });
  }
  const cells = Math.ceil(spans.reduce((t, s) => Math.max(t, s.to), 0) / o.gridMs) + 2;
  // Per model, the grid cells where it is live.
  const live = new Map<string, Uint8Array>();
  for (const { model, from, to } of spans) {
    let cellsOf = live.get(model);
    if (!cellsOf) live.set(model, (cellsOf = new Uint8Array(cells)));
    for (let c = Math.max(0, Math.floor(from / o.gridMs)); c <= Math.floor(to / o.gridMs); c++) cellsOf[c] = 1;
  }
  const need = new Map(fleet.map((c) => [c.pool, new Int32Array(cells)]));
  for (let c = 0; c < cells; c++) {
    const fps: number[] = [];
    for (const [model, cellsOf] of live) if (cellsOf[c]) fps.push(footprintBytes(service, sizes.get(model)!));
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
      return live.get(model)?.[Math.floor(now / o.gridMs)] === 1;
    },
  };
}
