/**
 * Baseline `keepforever`: keep_alive -1 and no memory check. Every model stays loaded once
 * loaded; a new model goes to the GPU with the most free memory even when it does not fit
 * there, which the engine counts as an OOM (the load fails and its queued requests with it).
 */
import { coldQueuedModels, runningGpus, type SimPolicy, type SimView } from './policy.ts';
import { Planner } from './planner.ts';

export function keepforeverPolicy(): SimPolicy {
  function step(view: SimView) {
    const p = new Planner(view);
    for (const model of coldQueuedModels(view)) {
      const gpu = p.fitting(model, -Infinity)[0] ?? runningGpus(view)[0];
      if (gpu) p.load(gpu, model);
    }
    return p.actions;
  }
  return { name: 'keepforever', onArrival: step, onTick: step, onLoadDone: step };
}
