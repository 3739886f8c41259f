/** What `decide` returns: each action names why, for logs and the decisions counter. */
import type { ReleaseTarget } from './actuators/scale-actuator.ts';

export type { ReleaseTarget };

export type LoadReason = 'cold_backlog' | 'replica_backlog' | 'prewarm';
export type UnloadReason = 'make_room' | 'replica_idle';
export type ScaleReason = 'unplaceable' | 'saturated' | 'target' | 'idle' | 'drained';
export type DrainReason = 'cost' | 'target';
export type StageReason = 'predicted';

export type Action =
  /** cold_backlog: waiting jobs and no replica; replica_backlog: a replica's queue wait is over target; prewarm: likely requested soon. */
  | { type: 'load'; model: string; worker: string; reason: LoadReason }
  /** Read the model's file into the worker's host page cache (no VRAM): a request is likely within the staging horizon. */
  | { type: 'stage'; model: string; worker: string; reason: StageReason }
  /** Evicted so that `forModel` fits. */
  | { type: 'unload'; model: string; worker: string; reason: 'make_room'; forModel: string }
  /** An extra replica idle for the policy's `replicaIdleMs`. */
  | { type: 'unload'; model: string; worker: string; reason: 'replica_idle' }
  /**
   * unplaceable / saturated: up by one; idle: down by one (any empty worker); drained: down by
   * one, releasing `release` (a worker that finished draining). `models`: the demand that could
   * not be placed (empty otherwise). With pools, `desiredWorkers` counts the workers of `pool`
   * (draining ones included, until released); without, all workers.
   */
  | { type: 'scale'; desiredWorkers: number; reason: ScaleReason; models: string[]; pool?: string; release?: ReleaseTarget }
  /** The worker stops taking jobs, lets its active ones finish and unloads everything; it is released once empty. */
  | { type: 'drain'; worker: string; reason: DrainReason; costMs: number; worthMs: number };

export type ActionReason = Action['reason'];
