/**
 * The scheduling decision as a pure function of a snapshot and a policy, so the same code runs
 * live, in table-driven tests and (later) in the simulator on a virtual clock.
 *
 * Thin policy: every model with waiting jobs and no resident or loading replica gets one load,
 * on the running worker (same engine) with the most free memory that fits it; failing that,
 * the fewest least-recently-used idle models are evicted from the one worker where that makes
 * room; failing that, a scale-up is suggested.
 */
import type { CatalogEntry, Heartbeat, ResidentModelInfo } from '../protocol/worker-state.js';
import type { SchedulerPolicy } from './policy.js';
import type { Snapshot } from './snapshot.js';

export type Action =
  | { type: 'load'; model: string; worker: string; reason: 'cold_backlog' }
  | { type: 'unload'; model: string; worker: string; reason: 'make_room'; forModel: string }
  | { type: 'scale'; desiredWorkers: number; reason: 'unplaceable'; models: string[] };

export type ActionReason = Action['reason'];

/** What this decision still believes about one placement target; mutated only inside `decide`. */
interface WorkerLedger {
  readonly workerId: string;
  readonly engine: string;
  readonly capacityBytes: number;
  /** Capacity minus resident bytes minus bytes of models loading (or chosen to load) here. */
  free: number;
  /** Resident models this decision may evict, least recently used first. */
  evictable: ResidentModelInfo[];
}

interface Placement {
  ledger: WorkerLedger;
  victims: ResidentModelInfo[];
}

/** Returns the actions that give every cold model with a backlog one replica. */
export function decide(snap: Snapshot, policy: SchedulerPolicy): Action[] {
  const ledgers = snap.workers.filter((w) => w.state === 'running' && w.engineHealthy !== false).map((w) => ledgerFor(w, snap, policy));
  const actions: Action[] = [];
  const unplaceable: string[] = [];
  // coldBacklog yields each model once, so one decision never loads a model twice.
  for (const entry of coldBacklog(snap)) {
    const placement = placeWithoutEviction(ledgers, entry) ?? placeWithEviction(ledgers, entry);
    if (!placement) {
      unplaceable.push(entry.name);
      continue;
    }
    actions.push(...commit(placement, entry));
  }
  if (unplaceable.length > 0) {
    const live = snap.workers.filter((w) => w.state === 'running' || w.state === 'starting').length;
    actions.push({ type: 'scale', desiredWorkers: live + 1, reason: 'unplaceable', models: unplaceable });
  }
  return actions;
}

/** A worker that can serve or soon serve the model's queue: running or starting, not draining. */
function serves(w: Heartbeat, model: string): boolean {
  if (w.state !== 'running' && w.state !== 'starting') return false;
  return w.resident.some((m) => m.model === model) || w.loading.some((m) => m.model === model);
}

/** Catalog entries of models with waiting jobs and no replica, longest wait first. */
function coldBacklog(snap: Snapshot): CatalogEntry[] {
  const cold: { entry: CatalogEntry; waiting: number; ageMs: number }[] = [];
  for (const [model, q] of snap.queues) {
    const entry = snap.catalog.get(model);
    // Without a catalog entry there is no size and no engine: nothing can be placed.
    if (q.waiting === 0 || !entry || snap.workers.some((w) => serves(w, model))) continue;
    cold.push({ entry, waiting: q.waiting, ageMs: q.oldestWaitMs ?? -1 });
  }
  cold.sort((a, b) => b.ageMs - a.ageMs || b.waiting - a.waiting || a.entry.name.localeCompare(b.entry.name));
  return cold.map((c) => c.entry);
}

function ledgerFor(w: Heartbeat, snap: Snapshot, policy: SchedulerPolicy): WorkerLedger {
  const loadingBytes = w.loading.reduce((s, l) => s + (snap.catalog.get(l.model)?.sizeBytes ?? 0), 0);
  return {
    workerId: w.workerId,
    engine: w.engine,
    capacityBytes: w.capacityBytes,
    free: w.capacityBytes - w.usedBytes - loadingBytes,
    evictable: w.resident
      .filter((m) => isEvictable(m, snap, policy))
      .sort((a, b) => a.lastUsedAt - b.lastUsedAt || a.model.localeCompare(b.model)),
  };
}

/** Idle, unpinned, past its minimum residency, and no job of its own waiting for it. */
function isEvictable(m: ResidentModelInfo, snap: Snapshot, policy: SchedulerPolicy): boolean {
  return (
    m.activeJobs === 0 &&
    !policy.pinned.has(m.model) &&
    snap.now - m.loadedAt >= policy.minResidencyMs &&
    (snap.queues.get(m.model)?.waiting ?? 0) === 0
  );
}

function placeWithoutEviction(ledgers: WorkerLedger[], entry: CatalogEntry): Placement | undefined {
  const best = ledgers
    .filter((l) => l.engine === entry.engine && l.free >= entry.sizeBytes)
    .sort((a, b) => b.free - a.free || a.workerId.localeCompare(b.workerId))[0];
  return best && { ledger: best, victims: [] };
}

/** The worker where the fewest LRU victims make room; ties go to the staler first victim. */
function placeWithEviction(ledgers: WorkerLedger[], entry: CatalogEntry): Placement | undefined {
  const options: Placement[] = [];
  for (const ledger of ledgers) {
    if (ledger.engine !== entry.engine || ledger.capacityBytes < entry.sizeBytes) continue;
    let free = ledger.free;
    const victims: ResidentModelInfo[] = [];
    for (const m of ledger.evictable) {
      if (free >= entry.sizeBytes) break;
      victims.push(m);
      free += m.sizeBytes;
    }
    if (free >= entry.sizeBytes) options.push({ ledger, victims });
  }
  options.sort(
    (a, b) =>
      a.victims.length - b.victims.length ||
      (a.victims[0]?.lastUsedAt ?? 0) - (b.victims[0]?.lastUsedAt ?? 0) ||
      a.ledger.workerId.localeCompare(b.ledger.workerId),
  );
  return options[0];
}

/** Books the placement in its ledger and returns its actions: the unloads, then the load. */
function commit({ ledger, victims }: Placement, entry: CatalogEntry): Action[] {
  const actions: Action[] = [];
  for (const v of victims) {
    ledger.free += v.sizeBytes;
    ledger.evictable = ledger.evictable.filter((m) => m !== v);
    actions.push({ type: 'unload', model: v.model, worker: ledger.workerId, reason: 'make_room', forModel: entry.name });
  }
  ledger.free -= entry.sizeBytes;
  actions.push({ type: 'load', model: entry.name, worker: ledger.workerId, reason: 'cold_backlog' });
  return actions;
}
