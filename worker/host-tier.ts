/**
 * The worker's side of the host tier: its page cache of model files, measured on a timer within
 * the budget it may use (FABRIC_HOST_CACHE_BYTES), and staged into on the scheduler's command.
 */
import type { Logger } from '../protocol/logger.ts';
import type { Engine } from './engines/port/engine.ts';
import { HostCache } from './host-cache/host-cache.ts';
import { openPageCache } from './host-cache/page-cache.ts';

/**
 * The host tier, when its budget is above zero, the engine names its files and libc is at hand;
 * it is measured now and every `checkMs` (the timer is handed to `keepTimer` to clear on close).
 */
export async function openHostTier(o: { engine: Engine; log: Logger; budgetBytes: number; checkMs: number; keepTimer: (t: NodeJS.Timeout) => void }): Promise<HostCache | null> {
  const { engine, log } = o;
  if (o.budgetBytes <= 0 || !engine.modelFiles) return null;
  const pageCache = await openPageCache();
  if (!pageCache) {
    log.warn('Page cache cannot be measured here (no libc through koffi): the host tier is off');
    return null;
  }
  const files = engine.modelFiles.bind(engine);
  const cache = new HostCache({ pageCache, budgetBytes: o.budgetBytes, models: async () => (await engine.catalog()).map((m) => m.name), files, log });
  const measure = () => cache.measure().catch((err) => log.warn({ err }, 'Measuring the page cache failed'));
  await measure();
  o.keepTimer(setInterval(() => void measure(), o.checkMs));
  return cache;
}

/**
 * Reads a model's files into host memory (no VRAM) without holding up the caller: a load or
 * unload behind it on the control stream runs at once. `changed` runs once the heartbeat should
 * show it (staging, then cached).
 */
export function stageModel(cache: HostCache | null, model: string, changed: () => Promise<void>, log: Logger): void {
  if (!cache) {
    log.warn({ model }, 'Stage command ignored: the host tier is off on this worker');
    return;
  }
  const done = cache.stage(model);
  void cache.measure().then(changed, () => undefined);
  void done
    .then(() => cache.measure())
    .then(changed)
    .catch((err) => log.warn({ model, err }, 'Staging failed'));
}
