/**
 * Baseline `keepalive0`: Ollama with keep_alive 0. A model unloads the moment it is idle and
 * nothing waits for it; it loads on demand on the GPU with the most free memory where it fits,
 * and waits when it fits nowhere (with nothing kept idle there is nothing to evict).
 */
import { coldQueuedModels, isIdle, type SimPolicy, type SimView } from './policy.ts';
import { footprint, Planner } from './planner.ts';

export function keepalive0Policy(): SimPolicy {
  function step(view: SimView) {
    const p = new Planner(view);
    for (const g of view.gpus) for (const r of g.replicas) if (isIdle(r) && view.queue(r.model).waiting === 0) p.unload(r);
    for (const model of coldQueuedModels(view)) {
      const gpu = p.fitting(model, footprint(view, model))[0];
      if (gpu) p.load(gpu, model);
    }
    return p.actions;
  }
  return { name: 'keepalive0', onArrival: step, onTick: step, onLoadDone: step, onRequestDone: step };
}
