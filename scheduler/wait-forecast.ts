/**
 * Pure forecasts of the waiting a fleet change saves or causes, for the scale rule
 * (scheduler/scale-rule.ts). Every wait is priced the same way, whatever its cause:
 *
 * - `unplaceableWaitSavedMs`: what one more worker saves the cold models that found no room
 *   (rule 1 could neither fit them nor evict for them): their waiting jobs and the arrivals
 *   expected meanwhile, each spared the time until a current replica would free the memory
 *   anyway, less the worker's own start and the model's load. A model no live worker could hold
 *   at all (a pool scaled to zero, a model larger than every running worker) waits forever
 *   without one: Infinity.
 * - `forecastP95Ms`: the p95 of the wait a request sees before its model runs over the next
 *   cool-down, for the fleet as it is, with one more worker, or without one. The models in
 *   demand are ranked by the requests expected of them (waiting jobs plus arrival rate x the
 *   cool-down) and fill the fleet's memory in that order: those that fit are warm (their
 *   requests wait only for a saturated queue), the rest pay a reload each, and cold models with no
 *   room wait for it as above. The latency target (`targetP95Ms`) compares this forecast with
 *   the target.
 */
import { footprintOf } from '../protocol/vram-rule.ts';
import type { Heartbeat } from '../protocol/worker-state.ts';
import { expectedRatePerSec, reloadMs } from './demand.ts';
import { workerCapacity } from './ledger.ts';
import type { SchedulerPolicy } from './policy.ts';
import type { Snapshot } from './snapshot.ts';

/** A fleet change to forecast: one more worker of `addBytes` usable memory, or one worker fewer. */
export interface FleetChange {
  readonly addBytes?: number;
  readonly remove?: Heartbeat;
  /**
   * Price only the reloads the change spares, not the relief one more replica gives a saturated
   * queue (the scale rule prices that on its own, from the waiting it has accumulated).
   */
  readonly reloadsOnly?: boolean;
}

/** How long a fleet change is committed for: no drain follows a scale-up sooner (the cool-down). */
export function commitMs(policy: SchedulerPolicy): number {
  return Math.max(policy.scaleDownCooldownMs, policy.demandHorizonMs);
}

/** What a worker of `gpus` GPUs costs over the commitment, in ms of waiting at the cost knob. */
export function workerCostMs(policy: SchedulerPolicy, gpus: number): number {
  return Math.max(1, gpus) * (commitMs(policy) / 1000) * policy.scaleWaitMsPerGpuSecond;
}

function bytesOf(snap: Snapshot, model: string): number {
  return footprintOf(snap, model, snap.catalog.get(model)?.engine ?? '').bytes;
}

function reloadOf(snap: Snapshot, policy: SchedulerPolicy, model: string): number {
  return reloadMs(bytesOf(snap, model), policy.loadBytesPerSec, policy.loadFixedMs);
}

/** Workers that will hold models over the forecast: running or starting, not leaving. */
function staying(snap: Snapshot, remove?: Heartbeat): Heartbeat[] {
  return snap.workers.filter((w) => (w.state === 'running' || w.state === 'starting') && w !== remove && w.workerId !== remove?.workerId);
}

function usable(w: Heartbeat): number {
  return workerCapacity(w) * (1 - w.headroomRatio);
}

/**
 * Expected time, from now, until a cold model that found no room gets some without a new
 * worker. Infinity when no running worker of its engine could hold it even empty. Otherwise the
 * memory is held by busy, backlogged, pinned or loading models, and a wait that has lasted t is
 * taken to last about t more (at least one reload: the blocker's queue must empty and the model
 * load).
 */
export function roomWaitMs(snap: Snapshot, policy: SchedulerPolicy, model: string): number {
  const bytes = bytesOf(snap, model);
  const engine = snap.catalog.get(model)?.engine;
  const holders = snap.workers.filter((w) => w.state === 'running' && (engine === undefined || w.engine === engine) && usable(w) >= bytes);
  if (holders.length === 0) return Infinity;
  return Math.max(snap.queues.get(model)?.oldestWaitMs ?? 0, reloadOf(snap, policy, model));
}

/**
 * The waiting one more worker saves the cold models in `models` (no room for them now), in ms:
 * for each, its waiting jobs and the arrivals expected until room comes, times the wait the
 * worker cuts (room wait less the worker's start and the model's load), within the commitment.
 */
export function unplaceableWaitSavedMs(snap: Snapshot, policy: SchedulerPolicy, models: readonly string[]): number {
  const horizon = commitMs(policy);
  let saved = 0;
  for (const model of models) {
    const q = snap.queues.get(model);
    const ready = policy.workerStartMs + reloadOf(snap, policy, model);
    const room = Math.min(roomWaitMs(snap, policy, model), horizon);
    if (roomWaitMs(snap, policy, model) === Infinity && (q?.waiting ?? 0) > 0) return Infinity;
    if (room <= ready) continue;
    const rate = expectedRatePerSec(snap.arrivals?.get(model), snap.now);
    saved += ((q?.waiting ?? 0) + (rate * room) / 1000) * (room - ready);
  }
  return saved;
}

interface Demand {
  readonly model: string;
  readonly bytes: number;
  /** Requests expected over the commitment, waiting ones included. */
  readonly requests: number;
  readonly resident: number;
}

/** Models with waiting jobs or an arrival rate, with the requests expected of them. */
function demand(snap: Snapshot, policy: SchedulerPolicy, workers: readonly Heartbeat[]): Demand[] {
  const horizon = commitMs(policy);
  const out: Demand[] = [];
  for (const [model, entry] of snap.catalog) {
    const waiting = snap.queues.get(model)?.waiting ?? 0;
    const rate = expectedRatePerSec(snap.arrivals?.get(model), snap.now);
    const requests = waiting + (rate * horizon) / 1000;
    if (!(requests > 0)) continue;
    const resident = workers.filter((w) => w.resident.some((m) => m.model === model) || w.loading.some((m) => m.model === model)).length;
    out.push({ model, bytes: footprintOf(snap, model, entry.engine).bytes, requests, resident });
  }
  // Most requested first; a resident model before an equally requested cold one.
  return out.sort((a, b) => b.requests - a.requests || b.resident - a.resident || a.model.localeCompare(b.model));
}

/**
 * The forecast p95 wait (ms) of the requests expected over the cool-down, for the fleet after
 * `change` (none: as it is). May be Infinity: requests for a model no worker could hold.
 */
export function forecastP95Ms(snap: Snapshot, policy: SchedulerPolicy, change: FleetChange = {}): number {
  return weightedP95(forecastWaits(snap, policy, change));
}

/**
 * The total waiting (ms) the requests expected over the cool-down are forecast to see after
 * `change`, each wait capped at the cool-down (a wait longer than that is another decision's).
 */
export function forecastTotalWaitMs(snap: Snapshot, policy: SchedulerPolicy, change: FleetChange = {}): number {
  const cap = commitMs(policy);
  return forecastWaits(snap, policy, change).reduce((s, w) => s + w.requests * Math.min(w.waitMs, cap), 0);
}

/** Expected requests over the cool-down, in classes of equal forecast wait. */
function forecastWaits(snap: Snapshot, policy: SchedulerPolicy, change: FleetChange): { requests: number; waitMs: number }[] {
  const workers = staying(snap, change.remove);
  const add = change.addBytes ?? 0;
  let room = workers.reduce((s, w) => s + usable(w), 0) + add;
  const largest = Math.max(add, ...workers.map(usable));
  const waits: { requests: number; waitMs: number }[] = [];
  for (const d of demand(snap, policy, workers)) {
    const q = snap.queues.get(d.model);
    const waiting = q?.waiting ?? 0;
    const waited = q?.oldestWaitMs ?? 0;
    const reload = reloadOf(snap, policy, d.model);
    if (d.bytes > largest) {
      // No worker holds it: it waits for one (a new worker's start) or forever.
      waits.push({ requests: d.requests, waitMs: Infinity });
      continue;
    }
    const warm = d.bytes <= room;
    if (warm) room -= d.bytes;
    if (d.resident > 0) {
      // A queue its replicas do not keep up with: its next requests wait about as long as its oldest has.
      const slots = workers.filter((w) => w.resident.some((m) => m.model === d.model)).reduce((s, w) => s + Math.max(1, w.slotsPerModel), 0);
      const saturated = waiting > Math.max(0, slots - (q?.active ?? 0));
      const share = add >= d.bytes && saturated && !change.reloadsOnly ? d.resident / (d.resident + 1) : 1;
      waits.push({ requests: d.requests, waitMs: saturated ? waited * share : warm ? 0 : reload });
      continue;
    }
    if (!warm) {
      // Outside the memory the fleet has: each request is likely to find it evicted.
      waits.push({ requests: d.requests, waitMs: waiting > 0 ? waited + roomWaitFor(snap, policy, d.model, workers, add) : reload });
      continue;
    }
    // Cold but with room: the waiting jobs wait for its load (on a new worker, for its start too),
    // later arrivals find it warm.
    const now = workers.some((w) => w.state === 'running' && usable(w) >= d.bytes) ? reload : policy.workerStartMs + reload;
    waits.push({ requests: waiting, waitMs: waited + now });
    waits.push({ requests: d.requests - waiting, waitMs: 0 });
  }
  return waits;
}

/** Room wait for a cold model outside the fleet's memory: a new worker, if one comes, caps it. */
function roomWaitFor(snap: Snapshot, policy: SchedulerPolicy, model: string, workers: readonly Heartbeat[], add: number): number {
  const bytes = bytesOf(snap, model);
  const reload = reloadOf(snap, policy, model);
  const base = workers.some((w) => w.state === 'running' && usable(w) >= bytes) ? roomWaitMs(snap, policy, model) : Infinity;
  return add >= bytes ? Math.min(base, policy.workerStartMs + reload) : base;
}

/** The 95th percentile of waits weighted by their requests; 0 with no requests. */
export function weightedP95(waits: readonly { requests: number; waitMs: number }[]): number {
  const sorted = waits.filter((w) => w.requests > 0).sort((a, b) => a.waitMs - b.waitMs);
  const total = sorted.reduce((s, w) => s + w.requests, 0);
  if (total === 0) return 0;
  let seen = 0;
  for (const w of sorted) {
    seen += w.requests;
    if (seen >= 0.95 * total) return w.waitMs;
  }
  return sorted.at(-1)!.waitMs;
}
