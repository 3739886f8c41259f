/** The scheduler's policy knobs: one type, defaults in one place, validated up front. */
import { ConfigError } from '../protocol/env.js';

export interface SchedulerPolicy {
  /** Models never evicted (FABRIC_PIN), as canonical names. */
  readonly pinned: ReadonlySet<string>;
  /** A model stays at least this long after its load before it may be evicted; prevents thrash. */
  readonly minResidencyMs: number;
}

/** What callers may pass: any subset, `pinned` as any iterable of names. */
export type SchedulerPolicyInput = Partial<Omit<SchedulerPolicy, 'pinned'>> & { pinned?: Iterable<string> };

export const SCHEDULER_POLICY_DEFAULTS: SchedulerPolicy = Object.freeze({
  pinned: new Set<string>(),
  minResidencyMs: 30_000,
});

/** Merges `input` over the defaults and validates the result. */
export function schedulerPolicy(input: SchedulerPolicyInput = {}): SchedulerPolicy {
  const policy: SchedulerPolicy = {
    pinned: new Set(input.pinned ?? SCHEDULER_POLICY_DEFAULTS.pinned),
    minResidencyMs: input.minResidencyMs ?? SCHEDULER_POLICY_DEFAULTS.minResidencyMs,
  };
  if (!Number.isFinite(policy.minResidencyMs) || policy.minResidencyMs < 0) {
    throw new ConfigError(`scheduler policy minResidencyMs must be >= 0, got ${policy.minResidencyMs}`);
  }
  return Object.freeze(policy);
}
