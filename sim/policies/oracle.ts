/**
 * Bound `oracle`: Belady's optimal eviction. It reads the whole trace and, when a cold model
 * fits nowhere, evicts the idle models whose next request is furthest in the future (never
 * again first), on the GPU where the soonest-needed victim is needed latest. It never unloads
 * otherwise and never scales: a bound on cold loads for a fixed pool, not a competitor.
 */
import { coldQueuedModels, type ReplicaView, type SimPolicy, type SimView } from './policy.ts';
import type { TraceRequest } from '../model/trace.ts';
import { footprint, Planner } from './planner.ts';

export function oraclePolicy(trace: readonly TraceRequest[]): SimPolicy {
  const arrivals = arrivalsByModel(trace);
  const nextUse = (model: string, now: number) => nextAfter(arrivals.get(model) ?? [], now);

  function step(view: SimView) {
    const p = new Planner(view);
    for (const model of coldQueuedModels(view)) {
      const fp = footprint(view, model);
      const gpu = p.fitting(model, fp)[0];
      if (gpu) {
        p.load(gpu, model);
        continue;
      }
      const furthestFirst = (rs: ReplicaView[]) => rs.sort((a, b) => nextUse(b.model, view.now) - nextUse(a.model, view.now) || a.model.localeCompare(b.model));
      const options = p.evictionOptions(model, fp, (g) => furthestFirst(p.idle(g)));
      const soonest = (vs: ReplicaView[]) => Math.min(...vs.map((v) => nextUse(v.model, view.now)));
      options.sort((a, b) => soonest(b.victims) - soonest(a.victims) || a.victims.length - b.victims.length);
      const best = options[0];
      if (!best) continue;
      for (const v of best.victims) p.unload(v);
      p.load(best.gpu, model);
    }
    return p.actions;
  }
  return { name: 'oracle', onArrival: step, onTick: step, onLoadDone: step, onRequestDone: step };
}

/** Every model's arrival times in the trace, ascending. */
export function arrivalsByModel(trace: readonly TraceRequest[]): Map<string, number[]> {
  const arrivals = new Map<string, number[]>();
  for (const r of trace) {
    let a = arrivals.get(r.model);
    if (!a) arrivals.set(r.model, (a = []));
    a.push(r.arrivalMs);
  }
  for (const a of arrivals.values()) a.sort((x, y) => x - y);
  return arrivals;
}

/** First value in ascending `times` strictly after `now`; Infinity when none. */
export function nextAfter(times: readonly number[], now: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((times[mid] as number) <= now) lo = mid + 1;
    else hi = mid;
  }
  return times[lo] ?? Infinity;
}
