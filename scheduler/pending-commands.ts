/**
 * Commands sent but not yet visible in heartbeats. Heartbeats lag a command by up to one
 * heartbeat interval, so without this every tick in between would re-send the same load.
 * Each entry lives until the target worker's heartbeat shows its effect, the worker vanishes,
 * or `ttlMs` passes (a lost or failed command is then re-decided).
 */
import type { Heartbeat } from '../protocol/worker-state.ts';
import type { Snapshot } from './snapshot.ts';

export interface PendingCommand {
  type: 'load' | 'unload' | 'stage';
  model: string;
  worker: string;
  at: number;
}

export class PendingCommands {
  private readonly entries = new Map<string, PendingCommand>();

  private readonly ttlMs: number;
  constructor(ttlMs: number) {
    this.ttlMs = ttlMs;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Records a sent command; a newer command for the same model and worker replaces the older. */
  note(cmd: PendingCommand): void {
    this.entries.set(`${cmd.worker}\u0000${cmd.model}`, cmd);
  }

  /** Forgets settled and expired commands, then returns `snap` as if the rest had taken effect. */
  overlay(snap: Snapshot): Snapshot {
    const byWorker = new Map(snap.workers.map((w) => [w.workerId, w]));
    for (const [key, cmd] of this.entries) {
      const w = byWorker.get(cmd.worker);
      if (!w || snap.now - cmd.at >= this.ttlMs || isVisible(cmd, w)) this.entries.delete(key);
    }
    if (this.entries.size === 0) return snap;
    const workers = snap.workers.map((w) => this.apply(w));
    return Object.freeze({ ...snap, workers: Object.freeze(workers) });
  }

  private apply(w: Heartbeat): Heartbeat {
    const mine = [...this.entries.values()].filter((c) => c.worker === w.workerId);
    if (mine.length === 0) return w;
    const unloads = new Set(mine.filter((c) => c.type === 'unload').map((c) => c.model));
    const loads = mine.filter((c) => c.type === 'load').map((c) => ({ model: c.model, startedAt: c.at, reservedBytes: 0 }));
    const stages = mine.filter((c) => c.type === 'stage').map((c) => c.model);
    const freed = w.resident.filter((m) => unloads.has(m.model)).reduce((s, m) => s + m.sizeBytes, 0);
    const resident = w.resident.filter((m) => !unloads.has(m.model));
    const hostCache = w.hostCache && stages.length > 0 ? { ...w.hostCache, staging: [...w.hostCache.staging, ...stages] } : w.hostCache;
    return Object.freeze({ ...w, resident, loading: [...w.loading, ...loads], usedBytes: w.usedBytes - freed, ...(hostCache ? { hostCache } : {}) });
  }
}

/**
 * A load shows once the worker lists the model as loading or resident; an unload once it lists
 * neither; a stage once the worker lists the model as staging or cached.
 */
function isVisible(cmd: PendingCommand, w: Heartbeat): boolean {
  if (cmd.type === 'stage') return !!w.hostCache && (w.hostCache.staging.includes(cmd.model) || w.hostCache.models.some((m) => m.model === cmd.model));
  const present = w.resident.some((m) => m.model === cmd.model) || w.loading.some((m) => m.model === cmd.model);
  return cmd.type === 'load' ? present : !present;
}
