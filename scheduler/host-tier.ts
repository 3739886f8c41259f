/**
 * Host memory as a tier, as the scheduler sees it (pure). A worker reports which model files sit
 * in its host's page cache (heartbeat `hostCache`, protocol/host-cache.ts); a load reads from that
 * `host` tier or from `disk`, at the speed measured per tier (snapshot `loadSpeeds`) or else the
 * policy's assumed one. Three rules use it:
 *
 * - Placement (decide.ts `place`): among workers of the same class where a model fits, the one
 *   that loads it fastest; with evictions, the option whose victims plus the waiting jobs' load
 *   time cost least.
 * - Eviction price (ledger.ts `victimOf`): a victim's reload is timed from where its weights fall,
 *   the host tier when its worker's page cache holds its file, else disk.
 * - Staging (`stageActions`): a model with no replica whose probability of a request within
 *   `stageHorizonMs` reaches `stageMinProbability`, and that no eligible worker has cached or is
 *   staging, is read into the page cache of the worker it would be placed on. Staging takes no
 *   VRAM, so its horizon runs far beyond pre-warming's.
 */
import { tierOf, type LoadTier } from '../protocol/host-cache.ts';
import { loadSpeedKey } from '../protocol/load-speeds.ts';
import { footprintOf } from '../protocol/vram-rule.ts';
import type { CatalogEntry, Heartbeat } from '../protocol/worker-state.ts';
import type { Action } from './actions.ts';
import { arrivalProbability, reloadMs } from './demand.ts';
import type { SchedulerPolicy } from './policy.ts';
import type { Snapshot } from './snapshot.ts';

/** The tier a load of `model` on worker `w` reads from now. */
export function tierOn(w: Heartbeat, model: string): LoadTier {
  return tierOf(w.hostCache, model);
}

/** Bytes per second a load from `tier` on `engine` reaches: measured, else the policy's assumption. */
export function tierSpeed(snap: Snapshot, policy: SchedulerPolicy, engine: string, tier: LoadTier): number {
  const measured = snap.loadSpeeds?.get(loadSpeedKey(engine, tier));
  if (measured !== undefined && measured > 0) return measured;
  return tier === 'host' ? policy.hostLoadBytesPerSec : policy.loadBytesPerSec;
}

/** Estimated time to load `bytes` of `model` on worker `w`, from the tier its file sits in there. */
export function loadMsOn(snap: Snapshot, policy: SchedulerPolicy, w: Heartbeat, model: string, bytes: number): number {
  return reloadMs(bytes, tierSpeed(snap, policy, w.engine, tierOn(w, model)), policy.loadFixedMs);
}

/** A worker's GPUs' memory together (ledger.ts `workerCapacity`, which imports this file). */
function capacityOf(w: Heartbeat): number {
  return w.gpus.length > 0 ? w.gpus.reduce((s, g) => s + g.memoryTotalBytes, 0) : w.capacityBytes;
}

/** The worker has the model's file cached (whole, by the tier rule) or is staging it. */
export function cachedOrStaging(w: Heartbeat, model: string): boolean {
  return tierOn(w, model) === 'host' || (w.hostCache?.staging.includes(model) ?? false);
}

/**
 * Stage commands for the models the arrival history predicts within `stageHorizonMs`, the
 * largest expected saving first (probability x the load time a page cache saves over disk), at
 * most `stageMaxPerDecision`. `skip` holds models this decision already loads.
 * Each host that could place a model (running, healthy, its engine, GPUs less headroom that hold
 * it, a reported host cache) gets it staged unless it is resident, loading, cached or staging
 * there (staging resident models as well read more and saved less in the simulator), so that
 * wherever placement puts the model its load reads from memory. A host takes only
 * the models of largest saving whose files fit its budget together: another would push one of them
 * out of its page cache (least recently read first), to be read again later.
 */
export function stageActions(snap: Snapshot, policy: SchedulerPolicy, skip: ReadonlySet<string>, held: (model: string) => boolean): Action[] {
  if (policy.stageMaxPerDecision === 0 || !snap.arrivals) return [];
  const likely: { entry: CatalogEntry; value: number }[] = [];
  for (const [model, stats] of snap.arrivals) {
    const entry = snap.catalog.get(model);
    if (!entry || skip.has(model) || held(model)) continue;
    const p = arrivalProbability(stats, snap.now, policy.stageHorizonMs, policy.histogramMinSamples);
    if (p === 0 || p < policy.stageMinProbability) continue;
    const saved = (entry.sizeBytes / tierSpeed(snap, policy, entry.engine, 'disk') - entry.sizeBytes / tierSpeed(snap, policy, entry.engine, 'host')) * 1000;
    likely.push({ entry, value: p * saved });
  }
  // The largest expected saving first: the load time a request would otherwise wait out.
  likely.sort((a, b) => b.value - a.value || a.entry.name.localeCompare(b.entry.name));
  const hosts = snap.workers.filter((w) => w.state === 'running' && w.engineHealthy !== false && w.hostCache);
  const out: Action[] = [];
  for (const w of hosts) {
    let wanted = 0;
    for (const { entry } of likely) {
      if (out.length >= policy.stageMaxPerDecision) return out;
      if (w.engine !== entry.engine || capacityOf(w) * (1 - w.headroomRatio) < footprintOf(snap, entry.name, entry.engine).bytes) continue;
      wanted += entry.sizeBytes;
      if (wanted > w.hostCache!.budgetBytes) break;
      const here = w.resident.some((m) => m.model === entry.name) || w.loading.some((m) => m.model === entry.name);
      if (!here && !cachedOrStaging(w, entry.name)) out.push({ type: 'stage', model: entry.name, worker: w.workerId, reason: 'predicted' });
    }
  }
  return out;
}
