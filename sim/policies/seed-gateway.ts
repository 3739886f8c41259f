/**
 * Baseline `seed-gateway`: the gateway from the seed article. Loads on demand on the least
 * loaded GPU (fewest running requests) where the model fits; evicts models idle > 5 min;
 * asks for one more GPU when pool VRAM use > 85% or a queue is deeper than 10, and gives back
 * a GPU that has been empty for 5 min. When a cold model fits nowhere, it evicts the least
 * recently used idle model there (the article is silent; without it a full pool deadlocks).
 */
import { coldQueuedModels, runningGpus, type GpuView, type SimPolicy, type SimView } from './policy.ts';
import { footprint, Planner } from './planner.ts';

export interface SeedGatewayOptions {
  readonly idleEvictMs: number;
  readonly vramScaleFraction: number;
  readonly queueScaleDepth: number;
  readonly emptyScaleDownMs: number;
}

export const SEED_GATEWAY_DEFAULTS: SeedGatewayOptions = Object.freeze({
  idleEvictMs: 5 * 60_000,
  vramScaleFraction: 0.85,
  queueScaleDepth: 10,
  emptyScaleDownMs: 5 * 60_000,
});

export function seedGatewayPolicy(input: Partial<SeedGatewayOptions> = {}): SimPolicy {
  const o = { ...SEED_GATEWAY_DEFAULTS, ...input };
  const emptySince = new Map<string, number>();
  const load = (g: GpuView) => g.replicas.reduce((s, r) => s + r.active, 0);

  function step(view: SimView) {
    const p = new Planner(view);
    for (const g of view.gpus) for (const r of p.idle(g)) if (view.now - r.lastUsedAt > o.idleEvictMs) p.unload(r);
    for (const model of coldQueuedModels(view)) {
      const fp = footprint(view, model);
      const gpu = p.fitting(model, fp).sort((a, b) => load(a) - load(b) || a.index - b.index)[0];
      if (gpu) {
        p.load(gpu, model);
        continue;
      }
      const lru = p.evictionOptions(model, fp, (g) => p.idle(g).sort((a, b) => a.lastUsedAt - b.lastUsedAt))[0];
      if (!lru) continue;
      for (const v of lru.victims) p.unload(v);
      p.load(lru.gpu, model);
    }
    scale(view, p);
    return p.actions;
  }

  function scale(view: SimView, p: Planner): void {
    const gpus = view.gpus.length;
    const running = runningGpus(view);
    const mem = running.reduce((s, g) => s + g.memBytes, 0);
    const used = running.reduce((s, g) => s + g.memBytes - p.free(g), 0);
    const deep = view.queuedModels().some((m) => view.queue(m).waiting > o.queueScaleDepth);
    const starting = view.gpus.some((g) => g.state === 'starting');
    if ((used > o.vramScaleFraction * mem || deep) && !starting && gpus < view.maxGpus) {
      p.actions.push({ type: 'scale', gpus: gpus + 1 });
      return;
    }
    for (const g of running) {
      if (p.remaining(g).length > 0 || p.isLoading(g)) emptySince.delete(g.id);
      else if (!emptySince.has(g.id)) emptySince.set(g.id, view.now);
    }
    const idleLong = running.filter((g) => view.now - (emptySince.get(g.id) ?? Infinity) >= o.emptyScaleDownMs);
    if (idleLong.length > 0 && gpus > 1) {
      p.actions.push({ type: 'scale', gpus: gpus - 1 });
      for (const g of idleLong) emptySince.delete(g.id);
    }
  }

  return { name: 'seed-gateway', onArrival: step, onTick: step, onLoadDone: step, onRequestDone: step };
}
