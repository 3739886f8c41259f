/**
 * Rule 6 of `decide`, pure: when to ask for one more worker or one fewer. Cool-down state
 * comes in through the snapshot (`lastScaleAt`, each worker's `lastUsedAt`), never from
 * module state, so the simulator replays it on its virtual clock.
 */
import type { Heartbeat } from '../protocol/worker-state.js';
import type { Action } from './actions.js';
import type { SchedulerPolicy } from './policy.js';
import type { Snapshot } from './snapshot.js';

type ScaleAction = Extract<Action, { type: 'scale' }>;

/**
 * Up by one when some demand could not be placed (`unplaceable`: cold models that fit nowhere
 * even after eviction; `saturated`: backlogged models whose next replica has no room), unless a
 * worker is already starting. Otherwise down by one when a worker has been idle for the
 * cool-down, nothing waits anywhere and the last scale change is at least as old.
 */
export function scaleAction(snap: Snapshot, policy: SchedulerPolicy, unplaceable: string[], saturated: string[]): ScaleAction | undefined {
  const live = snap.workers.filter((w) => w.state === 'running' || w.state === 'starting').length;
  if (unplaceable.length > 0 || saturated.length > 0) {
    // A worker on its way will take the demand or show it needs yet another; asking again now would overshoot.
    if (snap.workers.some((w) => w.state === 'starting')) return undefined;
    const desiredWorkers = Math.min(policy.maxWorkers, live + 1);
    if (desiredWorkers <= live) return undefined;
    return { type: 'scale', desiredWorkers, reason: unplaceable.length > 0 ? 'unplaceable' : 'saturated', models: [...unplaceable, ...saturated] };
  }
  if (live <= policy.minWorkers) return undefined;
  if (snap.lastScaleAt !== undefined && snap.now - snap.lastScaleAt < policy.scaleDownCooldownMs) return undefined;
  for (const q of snap.queues.values()) if (q.waiting > 0) return undefined;
  const idle = snap.workers.some((w) => isIdleFor(w, snap, policy));
  return idle ? { type: 'scale', desiredWorkers: live - 1, reason: 'idle', models: [] } : undefined;
}

/** Running, no job, no load, unused for the cool-down, and not the only home of a pinned model. */
function isIdleFor(w: Heartbeat, snap: Snapshot, policy: SchedulerPolicy): boolean {
  if (w.state !== 'running' || w.activeJobs > 0 || w.loading.length > 0) return false;
  if (w.resident.some((m) => m.activeJobs > 0)) return false;
  if (snap.now - w.lastUsedAt < policy.scaleDownCooldownMs) return false;
  return w.resident.every(
    (m) => !policy.pinned.has(m.model) || snap.workers.some((o) => o !== w && o.state === 'running' && o.resident.some((r) => r.model === m.model)),
  );
}
