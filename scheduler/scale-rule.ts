/**
 * Rule 6 of `decide`, pure: when the fleet grows, shrinks, and which worker goes. Cool-down
 * state comes in through the snapshot (`lastScaleAt`, heartbeats), never from module state, so
 * the simulator replays it on its virtual clock. At most one change per decision:
 *
 * 1. Release: a worker that finished a scale-down drain (`draining` on the scheduler's command,
 *    nothing resident, loading or running; a worker shutting down on its own is not) is released: its pool goes down by one, naming it so the actuator removes that one.
 * 2. Up: demand that could not be placed (`unplaceable` cold models, `saturated` replicas) may
 *    add a worker to the smallest pool whose workers hold the largest such model, below its
 *    maximum, unless a worker is already starting (it will take the demand or show another is
 *    needed). Nothing is bought unconditionally: the worker must save more waiting than it costs,
 *    a cool-down of its GPU time at the cost knob (no drain may follow sooner). It saves the
 *    saturated queues the waiting they have accumulated (waiting jobs x half the oldest wait) and
 *    the unplaceable cold models the wait until a current replica would free room anyway, less
 *    its own start (scheduler/wait-forecast.ts); a model no live worker could hold (a pool at
 *    zero) has no other way and always buys one. With a latency target (`targetP95Ms` > 0) the
 *    target decides instead: a worker is bought when the forecast p95 wait passes the target and
 *    one more worker lowers it, whether or not demand is blocked now.
 * 3. Down, for cost, in a decision that plans no load: past the cool-down since the last change
 *    and since the worker started, with nothing starting or draining and no queue over its wait target, the running idle worker whose models are
 *    expected to cost the least waiting elsewhere is drained, if that cost (requests within the
 *    demand horizon x reload, for models with no other replica or whose copy here was used within
 *    `replicaIdleMs`; see `victimOf` and `removalCost`) is below
 *    `gpus x horizon x scaleWaitMsPerGpuSecond`. With a latency target, instead, if the forecast
 *    p95 wait without it still meets the target. Its active jobs finish; its queues' next jobs
 *    go to other replicas or wait for a reload elsewhere.
 */
import type { Heartbeat } from '../protocol/worker-state.ts';
import type { Action } from './actions.ts';
import { DEFAULT_VRAM_HEADROOM, footprintOf } from '../protocol/vram-rule.ts';
import { expectedRequests } from './demand.ts';
import { victimOf, workerCapacity, type WorkerLedger } from './ledger.ts';
import type { SchedulerPolicy, WorkerPoolSpec } from './policy.ts';
import type { Snapshot } from './snapshot.ts';
import { forecastP95Ms, forecastTotalWaitMs, unplaceableWaitSavedMs, workerCostMs } from './wait-forecast.ts';

type ScaleAction = Extract<Action, { type: 'scale' }>;
type DrainAction = Extract<Action, { type: 'drain' }>;

/** The scale and drain actions of one decision (at most one of them). */
export function scaleActions(
  snap: Snapshot,
  policy: SchedulerPolicy,
  ledgers: readonly WorkerLedger[],
  unplaceable: string[],
  saturated: string[],
  loadsPlanned: boolean,
): (ScaleAction | DrainAction)[] {
  const release = releaseDrained(snap, policy);
  if (release) return [release];
  if (unplaceable.length > 0 || saturated.length > 0) {
    const up = scaleUp(snap, policy, unplaceable, saturated);
    return up ? [up] : [];
  }
  // With a latency target, a forecast over it buys capacity even with nothing blocked now.
  if (policy.targetP95Ms > 0 && !loadsPlanned) {
    const up = scaleUp(snap, policy, [], []);
    if (up) return [up];
  }
  // A decision that places models is no time to shrink (and might place one on the worker it drains).
  if (loadsPlanned) return [];
  const drain = policy.drainWorkers ? drainForCost(snap, policy, ledgers) : undefined;
  return drain ? [drain] : [];
}

/**
 * Workers that count against a pool's size: running, starting, and drained for a scale-down (its
 * pod runs until released); a worker draining for a shutdown is already leaving.
 */
function pods(snap: Snapshot, pool?: string): Heartbeat[] {
  const counts = (w: Heartbeat) => w.state === 'running' || w.state === 'starting' || (w.state === 'draining' && w.drainedForScaleDown === true);
  return snap.workers.filter((w) => counts(w) && (pool === undefined || poolOf(w) === pool));
}

function poolOf(w: Heartbeat): string | undefined {
  return w.pool;
}

/** The pool spec a worker belongs to; undefined without pools (the one anonymous pool). */
function specOf(policy: SchedulerPolicy, w: Heartbeat): WorkerPoolSpec | undefined {
  return policy.pools.find((p) => p.name === poolOf(w));
}

function releaseDrained(snap: Snapshot, policy: SchedulerPolicy): ScaleAction | undefined {
  const done = snap.workers
    .filter((w) => w.state === 'draining' && w.drainedForScaleDown === true && w.resident.length === 0 && w.loading.length === 0 && w.activeJobs === 0)
    .sort((a, b) => a.workerId.localeCompare(b.workerId))[0];
  if (!done) return undefined;
  const spec = specOf(policy, done);
  const desiredWorkers = pods(snap, spec?.name).length - 1;
  return { type: 'scale', desiredWorkers, reason: 'drained', models: [], release: { worker: done.workerId, host: done.host }, ...(spec ? { pool: spec.name } : {}) };
}

function scaleUp(snap: Snapshot, policy: SchedulerPolicy, unplaceable: string[], saturated: string[]): ScaleAction | undefined {
  if (snap.workers.some((w) => w.state === 'starting')) return undefined;
  const all = pods(snap).length;
  if (all >= policy.maxWorkers) return undefined;
  const models = [...unplaceable, ...saturated];
  const reason = unplaceable.length > 0 ? 'unplaceable' : saturated.length > 0 ? 'saturated' : 'target';
  const pool = poolFor(snap, policy, models);
  if (policy.pools.length > 0 && !pool) return undefined;
  const gpus = pool?.gpus ?? 1;
  const bytes = pool ? pool.gpus * pool.gpuBytes * (1 - poolHeadroom(snap, pool)) : newWorkerBytes(snap);
  if (!worthBuying(snap, policy, unplaceable, saturated, gpus, bytes)) return undefined;
  if (!pool) return { type: 'scale', desiredWorkers: all + 1, reason, models };
  return { type: 'scale', desiredWorkers: pods(snap, pool.name).length + 1, reason, models, pool: pool.name };
}

/**
 * The smallest pool below its maximum whose workers hold the largest model that waits (a pool
 * whose workers cannot hold it is no help); undefined without pools or with none fit.
 */
function poolFor(snap: Snapshot, policy: SchedulerPolicy, models: readonly string[]): WorkerPoolSpec | undefined {
  const need = Math.max(0, ...models.map((m) => largestFootprint(snap, m)));
  return [...policy.pools]
    .filter((p) => p.gpus * p.gpuBytes * (1 - poolHeadroom(snap, p)) >= need && pods(snap, p.name).length < p.maxWorkers)
    .sort((a, b) => a.gpus * a.gpuBytes - b.gpus * b.gpuBytes || a.name.localeCompare(b.name))[0];
}

/** Without pools, a new worker is taken to be like the largest running one. */
function newWorkerBytes(snap: Snapshot): number {
  return Math.max(0, ...snap.workers.filter((w) => w.state === 'running').map((w) => workerCapacity(w) * (1 - w.headroomRatio)));
}

/**
 * Whether one more worker of `gpus` GPUs and `bytes` usable memory pays: with a latency target,
 * when the forecast p95 wait passes it and the worker lowers it; else when the waiting it saves
 * the saturated queues and the unplaceable cold models reaches its cost (the cost knob at 0:
 * always, as before the knob).
 */
function worthBuying(snap: Snapshot, policy: SchedulerPolicy, unplaceable: readonly string[], saturated: readonly string[], gpus: number, bytes: number): boolean {
  const blockedSaved = unplaceableWaitSavedMs(snap, policy, unplaceable);
  // A model no live worker could hold waits for a new one whatever the knobs say (a pool at zero).
  if (blockedSaved === Infinity) return true;
  if (policy.targetP95Ms > 0) {
    const now = forecastP95Ms(snap, policy);
    return now > policy.targetP95Ms && forecastP95Ms(snap, policy, { addBytes: bytes }) < now;
  }
  if (policy.scaleWaitMsPerGpuSecond === 0) return unplaceable.length + saturated.length > 0;
  const blocked = blockedSaved + waitSavedMs(snap, saturated);
  // The reloads a larger fleet spares the models that do not all fit now (and the blocked ones, counted once).
  const thrash = forecastTotalWaitMs(snap, policy) - forecastTotalWaitMs(snap, policy, { addBytes: bytes, reloadsOnly: true });
  return Math.max(blocked, thrash) >= workerCostMs(policy, gpus);
}

/**
 * The share of memory a pool's workers keep free: what they are configured with
 * (FABRIC_VRAM_HEADROOM, published in their heartbeats; the largest if they differ), the
 * default only for a pool with no worker to say.
 */
function poolHeadroom(snap: Snapshot, pool: WorkerPoolSpec): number {
  const published = snap.workers.filter((w) => poolOf(w) === pool.name).map((w) => w.headroomRatio);
  return published.length > 0 ? Math.max(...published) : DEFAULT_VRAM_HEADROOM;
}

/** What one more replica saves the saturated queues: every waiting job's wait so far (the oldest's, halved). */
function waitSavedMs(snap: Snapshot, models: readonly string[]): number {
  return models.reduce((s, m) => {
    const q = snap.queues.get(m);
    return s + (q ? (q.waiting * (q.oldestWaitMs ?? 0)) / 2 : 0);
  }, 0);
}

/** What a worker of `gpus` GPUs is worth keeping over the demand horizon, in ms of waiting. */
function workerWorthMs(policy: SchedulerPolicy, gpus: number): number {
  return gpus * (policy.demandHorizonMs / 1000) * policy.scaleWaitMsPerGpuSecond;
}

function largestFootprint(snap: Snapshot, model: string): number {
  const engine = snap.catalog.get(model)?.engine ?? '';
  return footprintOf(snap, model, engine).bytes;
}

function drainForCost(snap: Snapshot, policy: SchedulerPolicy, ledgers: readonly WorkerLedger[]): DrainAction | undefined {
  if (snap.workers.some((w) => w.state === 'starting' || w.state === 'draining')) return undefined;
  if (snap.lastScaleAt !== undefined && snap.now - snap.lastScaleAt < policy.scaleDownCooldownMs) return undefined;
  for (const [model, q] of snap.queues) {
    if (q.waiting === 0) continue;
    // Demand over its target, or waiting on a model nobody holds: the fleet is not too large now.
    if ((q.oldestWaitMs ?? 0) > policy.replicaWaitTargetMs || !ledgers.some((l) => l.hosts.has(model))) return undefined;
  }
  // A model running on every slot of its replicas is at the fleet's edge: its next replica needs the room.
  if (atCapacity(snap)) return undefined;
  const target = policy.targetP95Ms > 0;
  const working = workingSetBytes(snap, policy);
  const usable = (l: WorkerLedger) => workerCapacity(l.worker) * (1 - l.worker.headroomRatio);
  const total = ledgers.reduce((s, l) => s + usable(l), 0);
  const options: { w: Heartbeat; costMs: number; worthMs: number }[] = [];
  for (const l of ledgers) {
    const w = l.worker;
    // Without it, the models in demand must still fit at once, or the rest of the fleet thrashes.
    if (total - usable(l) < working) continue;
    // A worker gets the cool-down a scale-up gets: one that just started (a new pod, a fleet's first
    // minutes) has had no chance to be used yet, nor its arrival history to show what is in demand
    // (with the minimum residency instead, a 2-4 GPU fleet drained one of its two at 30 s and
    // asked for it back at 54 s: sim seed 1).
    if (snap.now - w.startedAt < Math.max(policy.minResidencyMs, policy.scaleDownCooldownMs)) continue;
    if (!aboveMinimum(snap, policy, w) || w.loading.length > 0 || w.activeJobs > 0 || w.resident.some((m) => m.activeJobs > 0)) continue;
    const worthMs = workerWorthMs(policy, Math.max(1, w.gpus.length));
    const costMs = removalCost(snap, policy, w);
    if (target) {
      // The target holds without it: it goes, however much waiting its models would cause elsewhere.
      if (costMs !== Infinity && forecastP95Ms(snap, policy, { remove: w }) <= policy.targetP95Ms) options.push({ w, costMs, worthMs });
      continue;
    }
    const longIdle = snap.now - w.lastUsedAt >= policy.scaleDownCooldownMs;
    // The knob at 0 keeps only the rule that predates it: a worker unused for the cool-down goes.
    if (costMs === Infinity || (policy.scaleWaitMsPerGpuSecond === 0 ? !longIdle : costMs >= worthMs && !longIdle)) continue;
    options.push({ w, costMs, worthMs });
  }
  // The emptiest first: least expected waiting per GPU-second saved, then the least held, then the newest.
  options.sort(
    (a, b) =>
      a.costMs / a.worthMs - b.costMs / b.worthMs ||
      a.w.resident.length - b.w.resident.length ||
      workerCapacity(a.w) - workerCapacity(b.w) ||
      b.w.startedAt - a.w.startedAt ||
      a.w.workerId.localeCompare(b.w.workerId),
  );
  const best = options[0];
  if (!best) return undefined;
  return { type: 'drain', worker: best.w.workerId, reason: target ? 'target' : 'cost', costMs: Math.round(best.costMs), worthMs: Math.round(best.worthMs) };
}

/**
 * Memory of the models in demand: each model expected to be asked for at least once within the
 * demand horizon, at its footprint, once per running replica it has (at least one).
 */
function workingSetBytes(snap: Snapshot, policy: SchedulerPolicy): number {
  let bytes = 0;
  for (const [model, entry] of snap.catalog) {
    const replicas = snap.workers.filter((w) => w.state === 'running' && w.resident.some((m) => m.model === model));
    const lastUsedAt = Math.max(0, ...replicas.flatMap((w) => w.resident.filter((m) => m.model === model).map((m) => m.lastUsedAt)));
    const stats = snap.arrivals?.get(model);
    if (!stats && replicas.length === 0) continue;
    if (expectedRequests(stats, lastUsedAt, snap.now, policy.scaleDownCooldownMs, policy.histogramMinSamples) < 1) continue;
    bytes += footprintOf(snap, model, entry.engine).bytes;
  }
  return bytes;
}

/** Some model's active jobs fill every slot of its running replicas. */
function atCapacity(snap: Snapshot): boolean {
  for (const [model, q] of snap.queues) {
    if (q.active === 0) continue;
    const slots = snap.workers
      .filter((w) => w.state === 'running' && w.resident.some((m) => m.model === model))
      .reduce((s, w) => s + Math.max(1, w.slotsPerModel), 0);
    if (q.active >= slots) return true;
  }
  return false;
}

/** Its pool (or the fleet, without pools) stays at or above its minimum without it. */
function aboveMinimum(snap: Snapshot, policy: SchedulerPolicy, w: Heartbeat): boolean {
  const spec = specOf(policy, w);
  if (policy.pools.length > 0 && !spec) return false; // a worker of an unknown pool is not the scheduler's to release
  const running = (pool?: string) => pods(snap, pool).filter((o) => o.state === 'running').length;
  if (spec && running(spec.name) <= spec.minWorkers) return false;
  return running() > policy.minWorkers;
}

/**
 * Expected waiting its removal causes: for each resident model its eviction cost, unless another
 * running worker holds it and this copy has been idle for `replicaIdleMs` (rule 5 would trim it
 * anyway); Infinity if it is the only home of a pinned model. A replica used within that time is
 * priced as a reload: draining it as free scaled up, drained and scaled up again every few minutes
 * while a popular model's queue came and went (sim daily cycle, seed 1).
 */
function removalCost(snap: Snapshot, policy: SchedulerPolicy, w: Heartbeat): number {
  let cost = 0;
  for (const m of w.resident) {
    const elsewhere = snap.workers.some((o) => o !== w && o.state === 'running' && o.resident.some((r) => r.model === m.model));
    if (elsewhere && snap.now - m.lastUsedAt >= policy.replicaIdleMs) continue;
    if (policy.pinned.has(m.model)) return Infinity;
    cost += victimOf(m, snap, policy).cost;
  }
  return cost;
}

