/**
 * The last resort of a cold backlog, pure: a busy second copy goes. A model with no replica whose
 * only possible homes are taken by busy models waits until one of them goes idle; when one of them
 * is an extra copy of a model busy on other workers too (a large model replicated across the
 * large GPUs of a mixed fleet), that may be never while its queue lasts (sim mixed fleet, seed 6:
 * a 22 GB model waited 146 s behind two copies of a 69 GB one). Once the cold model has waited
 * longer than that copy takes to reload, the copy is unloaded: the worker stops giving it jobs,
 * lets its active ones finish and then unloads it, and the next decision places the cold model in
 * the memory it frees. Waiting longer than a reload costs more than reloading the copy later.
 */
import type { CatalogEntry } from '../protocol/worker-state.ts';
import type { Action } from './actions.ts';
import { reloadMs } from './demand.ts';
import { needOn, type WorkerLedger } from './ledger.ts';
import type { SchedulerPolicy } from './policy.ts';
import type { Snapshot } from './snapshot.ts';

/**
 * The unload of the busy copy with the fewest jobs (then the smallest), on a worker where
 * its bytes, free memory and the idle models there together hold `entry`; undefined if none has
 * waited out its reload. The ledger stops hosting the copy; its bytes stay booked until it is gone.
 */
export function unloadBusySpare(snap: Snapshot, policy: SchedulerPolicy, ledgers: readonly WorkerLedger[], entry: CatalogEntry, waitedMs: number): Action | undefined {
  const options: { ledger: WorkerLedger; model: string; bytes: number; active: number }[] = [];
  for (const ledger of ledgers) {
    if (ledger.worker.engine !== entry.engine || ledger.hosts.has(entry.name)) continue;
    const idle = ledger.evictable.reduce((s, v) => s + v.bytes, 0);
    for (const m of ledger.worker.resident) {
      if (m.activeJobs === 0 || policy.pinned.has(m.model) || !ledger.hosts.has(m.model) || !copiedElsewhere(snap, ledger, m.model)) continue;
      if (reloadMs(m.sizeBytes, policy.loadBytesPerSec, policy.loadFixedMs) > waitedMs) continue;
      if (ledger.free + idle + m.sizeBytes >= needOn(snap, entry.name, ledger)) options.push({ ledger, model: m.model, bytes: m.sizeBytes, active: m.activeJobs });
    }
  }
  // The copy that drains soonest (fewest jobs), then the one that reloads soonest.
  options.sort((a, b) => a.active - b.active || a.bytes - b.bytes || a.ledger.worker.workerId.localeCompare(b.ledger.worker.workerId));
  const best = options[0];
  if (!best) return undefined;
  best.ledger.hosts.delete(best.model);
  return { type: 'unload', model: best.model, worker: best.ledger.worker.workerId, reason: 'make_room', forModel: entry.name };
}

/** Another running worker holds `model` (resident, not leaving). */
function copiedElsewhere(snap: Snapshot, ledger: WorkerLedger, model: string): boolean {
  return snap.workers.some((o) => o !== ledger.worker && o.state === 'running' && o.resident.some((r) => r.model === model));
}
