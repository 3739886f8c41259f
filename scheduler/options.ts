/** The scheduler's one options type, with defaults merged and validated in one place. */
import { randomUUID } from 'node:crypto';
import { CONTROL_STREAM_MAX_LEN } from '../protocol/control.ts';
import { checkBounds, type Bound } from '../protocol/options-check.ts';
import { leaderLeaseOptions, type LeaderLeaseOptions } from './leader-lease.ts';
import { schedulerPolicy, type SchedulerPolicy, type SchedulerPolicyInput } from './policy.ts';

export interface SchedulerOptions {
  /** Names this instance in logs and in the lease key's value. */
  instanceId: string;
  /** Period of the decision that runs without a wake. */
  tickMs: number;
  lease: Omit<LeaderLeaseOptions, 'owner'>;
  /** How long a sent command hides its model from re-decision unless heartbeats show it first. */
  pendingTtlMs: number;
  /** Approximate cap (`XADD MAXLEN ~`) on a worker's control stream. */
  controlStreamMaxLen: number;
  /** Longest wait in `close()` for a running decision (the lease bounds its own steps by its TTL). */
  closeTimeoutMs: number;
  policy: SchedulerPolicy;
}

export type SchedulerOptionsInput = Partial<Omit<SchedulerOptions, 'lease' | 'policy'>> & {
  lease?: Partial<Omit<LeaderLeaseOptions, 'owner'>>;
  policy?: SchedulerPolicyInput;
};

export const SCHEDULER_DEFAULTS = Object.freeze({
  tickMs: 2_000,
  pendingTtlMs: 30_000,
  controlStreamMaxLen: CONTROL_STREAM_MAX_LEN,
  closeTimeoutMs: 2_000,
});

const BOUNDS: Partial<Record<keyof SchedulerOptions, Bound>> = {
  tickMs: { min: 10, env: 'FABRIC_SCHEDULER_TICK' },
  closeTimeoutMs: { min: 0 },
  pendingTtlMs: { min: 0, gt: true },
  controlStreamMaxLen: { min: 1, int: true },
};

export function schedulerOptions(input: SchedulerOptionsInput = {}): SchedulerOptions {
  const instanceId = input.instanceId ?? randomUUID();
  const { ttlMs, renewEveryMs } = leaderLeaseOptions({ ...input.lease, owner: instanceId });
  const opts: SchedulerOptions = {
    instanceId,
    tickMs: input.tickMs ?? SCHEDULER_DEFAULTS.tickMs,
    lease: { ttlMs, renewEveryMs },
    pendingTtlMs: input.pendingTtlMs ?? SCHEDULER_DEFAULTS.pendingTtlMs,
    controlStreamMaxLen: input.controlStreamMaxLen ?? SCHEDULER_DEFAULTS.controlStreamMaxLen,
    closeTimeoutMs: input.closeTimeoutMs ?? SCHEDULER_DEFAULTS.closeTimeoutMs,
    policy: schedulerPolicy(input.policy),
  };
  checkBounds('scheduler', opts, BOUNDS);
  return opts;
}
