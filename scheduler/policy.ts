/** The scheduler's policy knobs: one type, defaults in one place, validated up front. */
import { ConfigError } from '../protocol/env.js';
import { checkBounds, type Bound } from '../protocol/options-check.js';

export interface SchedulerPolicy {
  /** Models never evicted (FABRIC_PIN), as canonical names. */
  readonly pinned: ReadonlySet<string>;
  /**
   * A model stays at least this long after its load before a replica may evict it, and an extra
   * replica before it is trimmed; prevents thrash. A job waiting on a model with no replica
   * outweighs it: such a cold backlog may evict a young idle model. @defaultValue 30 s
   */
  readonly minResidencyMs: number;
  /** Load speed assumed for reload-time estimates: reload = bytes / this + `loadFixedMs`. @defaultValue 2 GB/s */
  readonly loadBytesPerSec: number;
  /** Fixed part of a load (process start, engine warm-up). @defaultValue 2 s */
  readonly loadFixedMs: number;
  /** Window of "a request soon" when pricing an eviction. @defaultValue 1 min */
  readonly demandHorizonMs: number;
  /** An inter-arrival histogram with fewer gaps than this is not trusted. @defaultValue 4 */
  readonly histogramMinSamples: number;
  /** A model whose oldest job waited longer than this, with more waiting than free slots, gets one more replica. @defaultValue 2 s */
  readonly replicaWaitTargetMs: number;
  /** An extra replica unused for this long is unloaded (one replica always stays). @defaultValue 5 min */
  readonly replicaIdleMs: number;
  /**
   * A replica that does not fit in free memory may evict idle models whose expected cost is below
   * this share of the wait it saves (0: replicas use free memory only). Above 0.25 the simulator's
   * seed 3 (a model that needs most of a GPU) lost more than the queues gained. @defaultValue 0.25
   */
  readonly replicaEvictionRatio: number;
  /** Most replicas of one model. @defaultValue 8 */
  readonly maxReplicas: number;
  /** Window of "a request soon" for pre-warming. @defaultValue 1 min */
  readonly prewarmHorizonMs: number;
  /**
   * A cold model is pre-warmed when its probability of a request within the window reaches this.
   * Each pre-warm is a load that may go unused; 0.8 kept the simulator's cold loads within 1.25x
   * of the oracle on seeds 1-5 where 0.5 did not (docs/sim). @defaultValue 0.8
   */
  readonly prewarmMinProbability: number;
  /** Most pre-warm loads one decision starts (pre-warm never evicts). @defaultValue 2 */
  readonly prewarmMaxLoads: number;
  /** An idle worker (and the last scale change) must be this old before a scale-down by one. @defaultValue 10 min */
  readonly scaleDownCooldownMs: number;
  /** Scale-down never asks for fewer workers. @defaultValue 1 */
  readonly minWorkers: number;
  /** Scale-up never asks for more workers (actuators clamp as well). @defaultValue Infinity */
  readonly maxWorkers: number;
}

/** What callers may pass: any subset, `pinned` as any iterable of names. */
export type SchedulerPolicyInput = Partial<Omit<SchedulerPolicy, 'pinned'>> & { pinned?: Iterable<string> };

export const SCHEDULER_POLICY_DEFAULTS: SchedulerPolicy = Object.freeze({
  pinned: new Set<string>(),
  minResidencyMs: 30_000,
  loadBytesPerSec: 2e9,
  loadFixedMs: 2_000,
  demandHorizonMs: 60_000,
  histogramMinSamples: 4,
  replicaWaitTargetMs: 2_000,
  replicaIdleMs: 300_000,
  replicaEvictionRatio: 0.25,
  maxReplicas: 8,
  prewarmHorizonMs: 60_000,
  prewarmMinProbability: 0.8,
  prewarmMaxLoads: 2,
  scaleDownCooldownMs: 600_000,
  minWorkers: 1,
  maxWorkers: Infinity,
});

type NumericKey = Exclude<keyof SchedulerPolicy, 'pinned'>;

/** Lower bound (inclusive unless `gt`) and whether the knob must be an integer. */
const BOUNDS: Record<NumericKey, Bound> = {
  minResidencyMs: { min: 0 },
  loadBytesPerSec: { min: 0, gt: true },
  loadFixedMs: { min: 0 },
  demandHorizonMs: { min: 0, gt: true },
  histogramMinSamples: { min: 1 },
  replicaWaitTargetMs: { min: 0 },
  replicaIdleMs: { min: 0 },
  maxReplicas: { min: 1, int: true },
  replicaEvictionRatio: { min: 0 },
  prewarmHorizonMs: { min: 0, gt: true },
  prewarmMinProbability: { min: 0, max: 1 },
  prewarmMaxLoads: { min: 0, int: true },
  scaleDownCooldownMs: { min: 0 },
  minWorkers: { min: 0, int: true },
  maxWorkers: { min: 1, infinite: true },
};

/** Merges `input` over the defaults and validates the result. */
export function schedulerPolicy(input: SchedulerPolicyInput = {}): SchedulerPolicy {
  const { pinned, ...rest } = input;
  const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  const policy: SchedulerPolicy = { ...SCHEDULER_POLICY_DEFAULTS, ...defined, pinned: new Set(pinned ?? SCHEDULER_POLICY_DEFAULTS.pinned) };
  checkBounds('scheduler policy', policy, BOUNDS);
  if (policy.maxWorkers < policy.minWorkers) throw new ConfigError(`scheduler policy maxWorkers (${policy.maxWorkers}) must be >= minWorkers (${policy.minWorkers})`);
  return Object.freeze(policy);
}
