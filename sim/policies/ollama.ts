/**
 * Baseline `ollama`: Ollama's own scheduler (server/sched.go) applied per GPU.
 * - keep_alive 5 min: a model unloads once idle that long (per-model overrides for tests).
 * - At most 3 loaded models per GPU (OLLAMA_MAX_LOADED_MODELS).
 * - When a model does not fit, the idle runner with the shortest keep_alive goes first, then
 *   by name (`ByDurationAndName`), not the least recently used; busy runners are waited for.
 * - Loads are serialized per GPU; a load starts only if its footprint is under 80% of the
 *   GPU's free memory (waived on an empty GPU, where Ollama would offload layers to CPU).
 * - Queue cap 512 (OLLAMA_MAX_QUEUE): further arrivals are rejected at once.
 * - One replica per model (Ollama never runs a model twice).
 */
import { coldQueuedModels, type GpuView, type ReplicaView, type SimPolicy, type SimView } from './policy.ts';
import { footprint, Planner } from './planner.ts';

export interface OllamaOptions {
  readonly keepAliveMs: number;
  /** keep_alive per model, as clients may send it on each request. */
  readonly keepAliveByModel: Readonly<Record<string, number>>;
  readonly maxLoadedPerGpu: number;
  readonly maxQueue: number;
  readonly fitFraction: number;
}

export const OLLAMA_DEFAULTS: OllamaOptions = Object.freeze({
  keepAliveMs: 5 * 60_000,
  keepAliveByModel: {},
  maxLoadedPerGpu: 3,
  maxQueue: 512,
  fitFraction: 0.8,
});

export function ollamaPolicy(input: Partial<OllamaOptions> = {}): SimPolicy {
  const o = { ...OLLAMA_DEFAULTS, ...input };
  const keepAlive = (model: string): number => o.keepAliveByModel[model] ?? o.keepAliveMs;
  /** Shortest keep_alive first, then by name. */
  const byDurationAndName = (a: ReplicaView, b: ReplicaView): number => keepAlive(a.model) - keepAlive(b.model) || a.model.localeCompare(b.model);

  function step(view: SimView) {
    const p = new Planner(view);
    for (const g of view.gpus) for (const r of p.idle(g)) if (view.now - r.lastUsedAt >= keepAlive(r.model)) p.unload(r);
    for (const model of coldQueuedModels(view)) {
      const fp = footprint(view, model);
      const fits = (g: GpuView, free: number, loaded: number) =>
        loaded < o.maxLoadedPerGpu && (fp <= free * o.fitFraction || (loaded === 0 && fp <= free));
      const free = (g: GpuView) => !p.isLoading(g);
      const direct = p.fitting(model, 0, free).filter((g) => fits(g, p.free(g), p.remaining(g).length))[0];
      if (direct) {
        p.load(direct, model);
        continue;
      }
      const option = evictFor(p, model, fp, fits, byDurationAndName);
      if (!option) continue; // Ollama waits for a runner to become idle
      for (const v of option.victims) p.unload(v);
      p.load(option.gpu, model);
    }
    return p.actions;
  }

  return {
    name: 'ollama',
    maxQueued: o.maxQueue,
    onArrival: step,
    onTick: step,
    onLoadDone: step,
    onRequestDone: step,
  };
}

/** Evicts idle runners in Ollama's order, one at a time, until the model fits on some GPU. */
function evictFor(
  p: Planner,
  model: string,
  fp: number,
  fits: (g: GpuView, free: number, loaded: number) => boolean,
  order: (a: ReplicaView, b: ReplicaView) => number,
): { gpu: GpuView; victims: ReplicaView[] } | undefined {
  const options: { gpu: GpuView; victims: ReplicaView[] }[] = [];
  for (const g of p.view.gpus) {
    if (g.state !== 'running' || p.isLoading(g) || g.memBytes < fp || g.replicas.some((r) => r.model === model)) continue;
    let free = p.free(g);
    let loaded = p.remaining(g).length;
    const victims: ReplicaView[] = [];
    for (const r of p.idle(g).sort(order)) {
      if (fits(g, free, loaded)) break;
      victims.push(r);
      free += r.footprintBytes;
      loaded--;
    }
    if (fits(g, free, loaded)) options.push({ gpu: g, victims });
  }
  options.sort((a, b) => a.victims.length - b.victims.length || p.free(b.gpu) - p.free(a.gpu) || a.gpu.index - b.gpu.index);
  return options[0];
}
