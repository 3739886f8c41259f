/**
 * Workers a set of resident models needs: each model goes to the pool whose workers are the
 * smallest that hold it whole, and each pool's models are packed first-fit decreasing onto its
 * workers, filled to `fill` of their memory. A heuristic bin count (first-fit decreasing is at
 * most 11/9 of the optimum plus one), not an exact one; clamped to each pool's min and max.
 */
import { workerBytes, type WorkerClass } from '../model/fleet.ts';

/** The pool whose workers are the smallest that hold `footprintBytes` (fleet order on ties); undefined when none does. */
export function homePool(fleet: readonly WorkerClass[], footprintBytes: number): WorkerClass | undefined {
  return fleet.filter((c) => workerBytes(c) >= footprintBytes).sort((a, b) => workerBytes(a) - workerBytes(b))[0];
}

/** Workers per pool (every pool of the fleet named) that hold `footprints` packed onto their home pools. */
export function workersFor(footprints: readonly number[], fleet: readonly WorkerClass[], fill = 1): Map<string, number> {
  const byPool = new Map<string, number[]>(fleet.map((c) => [c.pool, []]));
  for (const fp of footprints) {
    const home = homePool(fleet, fp);
    if (home) byPool.get(home.pool)!.push(fp);
  }
  const out = new Map<string, number>();
  for (const c of fleet) {
    const cap = workerBytes(c) * fill;
    const bins: number[] = [];
    for (const fp of byPool.get(c.pool)!.sort((a, b) => b - a)) {
      const i = bins.findIndex((used) => used + fp <= cap);
      if (i >= 0) bins[i]! += fp;
      else bins.push(fp); // a model over `cap` (but within the worker) takes a worker of its own
    }
    out.set(c.pool, Math.max(c.min, Math.min(c.max, bins.length)));
  }
  return out;
}
