/** What `decide` returns: each action names why, for logs and the decisions counter. */

export type LoadReason = 'cold_backlog' | 'replica_backlog' | 'prewarm';
export type UnloadReason = 'make_room' | 'replica_idle';
export type ScaleReason = 'unplaceable' | 'saturated' | 'idle';

export type Action =
  /** cold_backlog: waiting jobs and no replica; replica_backlog: a replica's queue wait is over target; prewarm: likely requested soon. */
  | { type: 'load'; model: string; worker: string; reason: LoadReason }
  /** Evicted so that `forModel` fits. */
  | { type: 'unload'; model: string; worker: string; reason: 'make_room'; forModel: string }
  /** An extra replica idle for the policy's `replicaIdleMs`. */
  | { type: 'unload'; model: string; worker: string; reason: 'replica_idle' }
  /** unplaceable / saturated: up by one; idle: down by one. `models`: the demand that could not be placed (empty when idle). */
  | { type: 'scale'; desiredWorkers: number; reason: ScaleReason; models: string[] };

export type ActionReason = Action['reason'];
