/**
 * The scheduling decision as a pure function of a snapshot and a policy, so the same code runs
 * live, in table-driven tests and in the simulator on a virtual clock. Rules, in order:
 *
 * 1. Cold backlog: every model with waiting jobs and no replica gets one load, on the healthy
 *    running worker of its engine with the most usable memory under the VRAM rule
 *    (protocol/vram-rule.ts: need <= free - reservations - headroom, so no plan can OOM).
 * 2. Eviction when nothing fits: on the one worker where it is cheapest, the set of idle
 *    victims with the lowest total expected cost (requests expected within the demand horizon x
 *    reload time; see scheduler/demand.ts) that frees enough. Pinned, loading, busy and backlogged models never go; a model
 *    younger than `minResidencyMs` goes only to make room for a cold backlog (a job waiting on
 *    a model with no replica), never for a replica. A second copy of a model served elsewhere
 *    goes for a cold backlog that has waited longer than the copy's reload, idle or, as a last
 *    resort, busy (scheduler/busy-spare.ts: it drains first).
 * 3. Replicas: a model whose oldest job waited past `replicaWaitTargetMs`, with more jobs
 *    waiting than its replicas have free slots, gets one more replica on another worker, in
 *    free memory, or by evicting idle models (past their minimum residency) whose expected cost
 *    is below `replicaEvictionRatio` of the wait the replica saves (a victim no other worker
 *    could hold costs its requests x the replica's reload on top).
 * 4. Pre-warm: cold models likely requested within `prewarmHorizonMs` (arrival rate and
 *    inter-arrival histogram) load into free memory only, at most `prewarmMaxLoads` a decision.
 * 4b. Stage (scheduler/host-tier.ts): models the arrival history predicts within
 *    `stageHorizonMs` are read into a host's page cache, which costs no VRAM. Loads go where
 *    they are fastest (a worker whose page cache holds the file; for a cold backlog, even at
 *    the price of idle victims there that cost less than the load time saved) and evictions are
 *    priced by where the victim's weights fall (page cache or disk).
 * 5. Idle extra replicas (unused for `replicaIdleMs`) are unloaded; one replica always stays.
 * 6. Scale (scheduler/scale-rule.ts): one more worker, in the smallest pool whose workers hold
 *    what waits, when the waiting it saves (blocked cold models, saturated queues, reloads of
 *    models that do not all fit) is worth its GPU-seconds, or, with a latency target, when the
 *    forecast p95 wait passes the target (scheduler/wait-forecast.ts); a worker whose models are
 *    expected to cost less waiting elsewhere than its GPU-seconds are worth (or without which the
 *    target still holds) is drained, then released once empty.
 *
 * Mixed fleets: placement prefers the smallest worker class that holds a model; a worker with
 * several GPUs holds a model larger than one of them split across them (ledger per GPU).
 *
 * Operators come first: a model under an operator's hold (an unload) is never loaded by rules
 * 1, 3 or 4 until the hold lapses, and an operator's pin counts as `policy.pinned`.
 */
import { isActive } from '../protocol/operator-holds.ts';
import type { CatalogEntry } from '../protocol/worker-state.ts';
import type { Action, LoadReason } from './actions.ts';
import { unloadBusySpare } from './busy-spare.ts';
import { arrivalProbability, reloadMs } from './demand.ts';
import { bookLoad, bookUnloads, buildLedgers, cheapestEviction, fitsOn, needOn, type EvictionPlan, type WorkerLedger } from './ledger.ts';
import type { SchedulerPolicy } from './policy.ts';
import { loadMsOn, stageActions } from './host-tier.ts';
import { scaleActions } from './scale-rule.ts';
import type { Snapshot } from './snapshot.ts';

export type { Action, ActionReason, LoadReason, ScaleReason, UnloadReason } from './actions.ts';

/** One decision's state; the ledgers are its only mutable part. */
interface Ctx {
  readonly snap: Snapshot;
  readonly policy: SchedulerPolicy;
  readonly ledgers: WorkerLedger[];
  readonly actions: Action[];
  /** Models this decision loads somewhere: a model gets at most one load per decision. */
  readonly planned: Set<string>;
}

interface Placement {
  readonly ledger: WorkerLedger;
  readonly need: number;
  readonly eviction?: EvictionPlan;
}

/** Returns the actions that bring residency closer to demand; never does I/O. */
export function decide(snap: Snapshot, basePolicy: SchedulerPolicy): Action[] {
  const policy = withOperatorPins(snap, basePolicy);
  const ctx: Ctx = { snap, policy, ledgers: buildLedgers(snap, policy), actions: [], planned: new Set() };
  const unplaceable = placeColdBacklog(ctx);
  const saturated = addReplicas(ctx);
  prewarm(ctx);
  ctx.actions.push(...stageActions(snap, policy, ctx.planned, (m) => held(snap, m)));
  trimIdleReplicas(ctx);
  ctx.actions.push(...scaleActions(snap, policy, ctx.ledgers, unplaceable, saturated, ctx.planned.size > 0));
  return ctx.actions;
}

/** Operators' active pins join the policy's pinned set for this decision. */
function withOperatorPins(snap: Snapshot, policy: SchedulerPolicy): SchedulerPolicy {
  const pins = [...(snap.holds ?? [])].filter(([, h]) => h.kind === 'pin' && isActive(h, snap.now)).map(([m]) => m);
  return pins.length === 0 ? policy : { ...policy, pinned: new Set([...policy.pinned, ...pins]) };
}

/** An operator unloaded the model and holds it off: no load of any kind until the hold lapses. */
function held(snap: Snapshot, model: string): boolean {
  const h = snap.holds?.get(model);
  return h?.kind === 'hold' && isActive(h, snap.now);
}

/**
 * Models with waiting jobs and no replica resident or loading on a live worker, none of which
 * `actions` loads: a cold backlog that found no room. Something going idle may make room.
 */
export function blockedModels(snap: Snapshot, actions: readonly Action[]): string[] {
  const loading = new Set(actions.filter((a) => a.type === 'load').map((a) => a.model));
  const out: string[] = [];
  for (const [model, q] of snap.queues) {
    if (q.waiting > 0 && !loading.has(model) && !hasReplica(snap, model)) out.push(model);
  }
  return out;
}

/** Rule 1 (and 2): one replica for each cold model with a backlog. Returns those that fit nowhere. */
function placeColdBacklog(ctx: Ctx): string[] {
  const unplaceable: string[] = [];
  for (const { entry, ageMs, waiting } of coldBacklog(ctx)) {
    // A job waiting on a cold model outweighs the anti-thrash guard: young idle models may go.
    const placement = place(ctx, entry, true, { waitedMs: Math.max(0, ageMs), waiting });
    if (placement) {
      commit(ctx, placement, entry.name, 'cold_backlog');
      continue;
    }
    unplaceable.push(entry.name);
    const drain = unloadBusySpare(ctx.snap, ctx.policy, ctx.ledgers, entry, Math.max(0, ageMs));
    if (drain) ctx.actions.push(drain);
  }
  return unplaceable;
}

/** A worker that can serve or soon serve the model's queue: running or starting, holding or loading it. */
function serves(ctx: Ctx, model: string): boolean {
  return ctx.planned.has(model) || hasReplica(ctx.snap, model);
}

/** A running or starting worker holds or loads the model. */
function hasReplica(snap: Snapshot, model: string): boolean {
  return snap.workers.some(
    (w) => (w.state === 'running' || w.state === 'starting') && (w.resident.some((m) => m.model === model) || w.loading.some((m) => m.model === model)),
  );
}

/** Catalog entries of models with waiting jobs and no replica, longest wait first, with that wait. */
function coldBacklog(ctx: Ctx): { entry: CatalogEntry; waiting: number; ageMs: number }[] {
  const cold: { entry: CatalogEntry; waiting: number; ageMs: number }[] = [];
  for (const [model, q] of ctx.snap.queues) {
    const entry = ctx.snap.catalog.get(model);
    // Without a catalog entry there is no size and no engine: nothing can be placed.
    if (q.waiting === 0 || !entry || serves(ctx, model) || held(ctx.snap, model)) continue;
    cold.push({ entry, waiting: q.waiting, ageMs: q.oldestWaitMs ?? -1 });
  }
  cold.sort((a, b) => b.ageMs - a.ageMs || b.waiting - a.waiting || a.entry.name.localeCompare(b.entry.name));
  return cold;
}

/**
 * Where `entry` goes: the eligible worker that loads it fastest (its page cache holds the file)
 * with the most usable memory where it fits, or for a cold backlog one that loads it faster once
 * it evicts (`fasterByEviction`); failing that (and if `evict`), the worker whose
 * cheapest sufficient eviction plus the waiting jobs' load time costs least; young models and
 * spare replicas are victims only for a cold backlog (`cold`, see `cheapestEviction`).
 */
function place(ctx: Ctx, entry: CatalogEntry, evict: boolean, cold?: { readonly waitedMs: number; readonly waiting: number }): Placement | undefined {
  const eligible = ctx.ledgers.filter((l) => l.worker.engine === entry.engine && !l.hosts.has(entry.name));
  const loadMs = (p: { ledger: WorkerLedger; need: number }) => loadMsOn(ctx.snap, ctx.policy, p.ledger.worker, entry.name, p.need);
  // Smallest worker class first: a small model stays off a large GPU while a smaller one has room,
  // keeping the large one for a model only it can hold; within a class, the fastest load, then the
  // most usable memory.
  const fits = eligible
    .map((ledger) => ({ ledger, need: needOn(ctx.snap, entry.name, ledger) }))
    .filter((p) => fitsOn(p.ledger, p.need))
    .sort((a, b) => a.ledger.capacity - b.ledger.capacity || loadMs(a) - loadMs(b) || b.ledger.free - a.ledger.free || a.ledger.worker.workerId.localeCompare(b.ledger.worker.workerId));
  if (fits[0] && cold) return fasterByEviction(ctx, entry, fits[0], eligible, cold) ?? fits[0];
  if (fits[0] || !evict) return fits[0];
  const options: Placement[] = [];
  for (const ledger of eligible) {
    const need = needOn(ctx.snap, entry.name, ledger);
    const eviction = cheapestEviction(ledger, need - ledger.free, cold);
    if (eviction) options.push({ ledger, need, eviction });
  }
  // In request-ms, as victims are priced: the jobs waiting on a cold model wait out its load.
  const total = (p: Placement) => p.eviction!.cost + (cold?.waiting ?? 0) * loadMs(p);
  options.sort(
    (a, b) =>
      total(a) - total(b) ||
      a.eviction!.victims.length - b.eviction!.victims.length ||
      a.ledger.capacity - b.ledger.capacity ||
      a.ledger.worker.workerId.localeCompare(b.ledger.worker.workerId),
  );
  return options[0];
}

/**
 * For a cold backlog that fits on `fit` from a slower tier: a worker of the same class that loads
 * the model faster (its page cache holds the file) once it evicts idle models, if those victims'
 * expected cost is below the load time the waiting jobs save. Free memory on a host that reads
 * from disk otherwise always won over a host with the file cached and idle models to spare.
 */
function fasterByEviction(ctx: Ctx, entry: CatalogEntry, fit: Placement, eligible: readonly WorkerLedger[], cold: { readonly waitedMs: number; readonly waiting: number }): Placement | undefined {
  const loadMs = (l: WorkerLedger) => loadMsOn(ctx.snap, ctx.policy, l.worker, entry.name, fit.need);
  const slow = loadMs(fit.ledger);
  let best: { placement: Placement; total: number } | undefined;
  for (const ledger of eligible) {
    if (ledger.capacity !== fit.ledger.capacity || loadMs(ledger) >= slow) continue;
    const need = needOn(ctx.snap, entry.name, ledger);
    const eviction = cheapestEviction(ledger, need - ledger.free, cold);
    if (!eviction) continue;
    const total = eviction.cost + cold.waiting * loadMs(ledger);
    if (total < cold.waiting * slow && (!best || total < best.total)) best = { placement: { ledger, need, eviction }, total };
  }
  return best?.placement;
}

/** Books a placement and emits its actions: the unloads (cheapest per byte first), then the load. */
function commit(ctx: Ctx, { ledger, need, eviction }: Placement, model: string, reason: LoadReason): void {
  const worker = ledger.worker.workerId;
  if (eviction) {
    bookUnloads(ledger, eviction.victims);
    for (const v of eviction.victims) ctx.actions.push({ type: 'unload', model: v.model, worker, reason: 'make_room', forModel: model });
  }
  bookLoad(ledger, model, need);
  ctx.planned.add(model);
  ctx.actions.push({ type: 'load', model, worker, reason });
}

/** Rule 3: one more replica for each backlogged model its replicas cannot absorb. Returns those with no room. */
function addReplicas(ctx: Ctx): string[] {
  const { snap, policy } = ctx;
  const saturated: string[] = [];
  const backlogged = [...snap.queues]
    .filter(([model, q]) => q.waiting > 0 && (q.oldestWaitMs ?? 0) > policy.replicaWaitTargetMs && snap.catalog.has(model) && !ctx.planned.has(model) && !held(snap, model))
    .sort(([am, a], [bm, b]) => (b.oldestWaitMs ?? 0) - (a.oldestWaitMs ?? 0) || am.localeCompare(bm));
  for (const [model, q] of backlogged) {
    const hosts = snap.workers.filter((w) => w.state === 'running' && w.resident.some((m) => m.model === model));
    // One replica at a time: a load already under way must land before another is judged.
    if (hosts.length === 0 || hosts.length >= policy.maxReplicas || snap.workers.some((w) => w.loading.some((l) => l.model === model))) continue;
    const slots = hosts.reduce((s, w) => s + Math.max(1, w.slotsPerModel), 0);
    if (q.waiting <= Math.max(0, slots - q.active)) continue;
    // Free memory first. Evicting for a replica is held to a fraction of the wait it saves: evicting
    // freely traded reloads for a shorter queue and, with a model that needs most of a GPU, emptied
    // it (sim seed 3: p99 102 s); never evicting left a popular large model queueing (seed 5).
    const placement = place(ctx, snap.catalog.get(model)!, false) ?? replicaByEviction(ctx, snap.catalog.get(model)!, q, hosts.length);
    if (placement) commit(ctx, placement, model, 'replica_backlog');
    else saturated.push(model);
  }
  return saturated;
}

/**
 * A replica that needs evictions, for a queue that free memory cannot relieve: only if the
 * victims' expected cost (requests soon x reload, summed) is below `replicaEvictionRatio` times
 * the wait the replica saves, estimated as every waiting job's wait so far (the oldest's, halved)
 * shared over one more replica.
 */
function replicaByEviction(ctx: Ctx, entry: CatalogEntry, q: { waiting: number; oldestWaitMs: number | null }, replicas: number): Placement | undefined {
  const ratio = ctx.policy.replicaEvictionRatio;
  if (ratio <= 0) return undefined;
  const placement = place(ctx, entry, true);
  if (!placement?.eviction) return placement;
  const saves = (q.waiting * ((q.oldestWaitMs ?? 0) / 2)) / (replicas + 1);
  return displacementCost(ctx, placement, entry.name) < ratio * saves ? placement : undefined;
}

/**
 * What a replica's evictions cost: each victim's expected requests x its reload, and, for a victim
 * that no other worker the replicated model leaves room on could hold, the same requests x the
 * new replica's own reload time as well: such a victim waits until a cold backlog may evict the
 * spare replica (see `cheapestEviction`). On a mixed fleet a second copy of a model that fills a
 * large GPU otherwise looked cheap while it left the models only large GPUs hold with no home
 * (sim mixed fleet, seed 6: p95 1.6x the best baseline's).
 */
function displacementCost(ctx: Ctx, placement: Placement, model: string): number {
  const others = ctx.ledgers.filter((l) => l !== placement.ledger && l.worker.engine === placement.ledger.worker.engine);
  const room = (l: WorkerLedger) => l.capacity * (1 - l.worker.headroomRatio) - (l.hosts.has(model) ? needOn(ctx.snap, model, l) : 0);
  const spareReloadMs = reloadMs(placement.need, ctx.policy.loadBytesPerSec, ctx.policy.loadFixedMs);
  return placement.eviction!.victims.reduce((sum, v) => {
    const homeless = !others.some((l) => room(l) >= v.bytes);
    return sum + v.cost + (homeless && v.reloadMs > 0 ? (v.cost / v.reloadMs) * spareReloadMs : 0);
  }, 0);
}

/** Rule 4: load cold models likely requested soon into free memory, most likely first. */
function prewarm(ctx: Ctx): void {
  const { snap, policy } = ctx;
  if (!snap.arrivals || policy.prewarmMaxLoads === 0) return;
  const likely: { entry: CatalogEntry; p: number }[] = [];
  for (const [model, stats] of snap.arrivals) {
    const entry = snap.catalog.get(model);
    // A model with waiting jobs and no replica was handled (or found unplaceable) by rule 1.
    if (!entry || (snap.queues.get(model)?.waiting ?? 0) > 0 || serves(ctx, model) || held(snap, model)) continue;
    const p = arrivalProbability(stats, snap.now, policy.prewarmHorizonMs, policy.histogramMinSamples);
    if (p >= policy.prewarmMinProbability && p > 0) likely.push({ entry, p });
  }
  likely.sort((a, b) => b.p - a.p || a.entry.name.localeCompare(b.entry.name));
  let budget = policy.prewarmMaxLoads;
  for (const { entry } of likely) {
    if (budget === 0) break;
    const placement = place(ctx, entry, false);
    if (!placement) continue;
    commit(ctx, placement, entry.name, 'prewarm');
    budget--;
  }
}

/** Rule 5: unload extra replicas idle for `replicaIdleMs`, stalest first, keeping at least one. */
function trimIdleReplicas(ctx: Ctx): void {
  const { snap, policy } = ctx;
  for (const [model, q] of snap.queues) {
    if (q.waiting > 0 || policy.pinned.has(model)) continue;
    const replicas = ctx.ledgers.filter((l) => l.hosts.has(model) && l.worker.resident.some((m) => m.model === model));
    if (replicas.length < 2) continue;
    const idle = replicas
      .map((ledger) => ({ ledger, info: ledger.worker.resident.find((m) => m.model === model)! }))
      .filter(({ info }) => info.activeJobs === 0 && snap.now - info.lastUsedAt >= policy.replicaIdleMs && snap.now - info.loadedAt >= policy.minResidencyMs)
      .sort((a, b) => a.info.lastUsedAt - b.info.lastUsedAt || a.ledger.worker.workerId.localeCompare(b.ledger.worker.workerId));
    let remaining = replicas.length;
    for (const { ledger, info } of idle) {
      if (remaining <= 1) break;
      bookUnloads(ledger, [{ model, bytes: info.sizeBytes, cost: 0, reloadMs: 0, lastUsedAt: info.lastUsedAt, young: false }]);
      ctx.actions.push({ type: 'unload', model, worker: ledger.worker.workerId, reason: 'replica_idle' });
      remaining--;
    }
  }
}
