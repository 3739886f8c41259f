/**
 * Baseline `lru-affinity`: Ray Serve multiplexing / ModelMesh style. Requests route to a GPU
 * already holding their model (the engine's dispatch does that for every policy); a cold
 * model loads on the GPU with the most free memory, or, when nothing fits, evicts the least
 * recently used idle models on the GPU where the fewest evictions make room. A model whose
 * backlog exceeds two replicas' worth of slots gets another replica where one fits without
 * eviction (Ray's autoscaling on ongoing requests).
 */
import { coldQueuedModels, replicasOf, type SimPolicy, type SimView } from './policy.ts';
import { footprint, Planner } from './planner.ts';

export function lruAffinityPolicy(): SimPolicy {
  function step(view: SimView) {
    const p = new Planner(view);
    for (const model of coldQueuedModels(view)) {
      const fp = footprint(view, model);
      const gpu = p.fitting(model, fp)[0];
      if (gpu) {
        p.load(gpu, model);
        continue;
      }
      const lru = p.evictionOptions(model, fp, (g) => p.idle(g).sort((a, b) => a.lastUsedAt - b.lastUsedAt || a.model.localeCompare(b.model)))[0];
      if (!lru) continue;
      for (const v of lru.victims) p.unload(v);
      p.load(lru.gpu, model);
    }
    for (const model of view.queuedModels()) {
      const replicas = replicasOf(view, model);
      if (replicas.length === 0 || p.placedNow(model) || replicas.some((r) => r.state === 'loading')) continue;
      if (view.queue(model).waiting <= 2 * view.service.slotsPerReplica * replicas.length) continue;
      const gpu = p.fitting(model, footprint(view, model))[0];
      if (gpu) p.load(gpu, model);
    }
    return p.actions;
  }
  return { name: 'lru-affinity', onArrival: step, onTick: step, onLoadDone: step, onRequestDone: step };
}
