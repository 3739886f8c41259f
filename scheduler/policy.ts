/** The scheduler's policy knobs: one type, defaults in one place, validated up front. */
import { ConfigError } from '../protocol/env.ts';
import { checkBounds, type Bound } from '../protocol/options-check.ts';

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
  /**
   * Load speed assumed from the host page cache (the `host` tier, protocol/host-cache.ts) until a
   * worker has measured one; `loadBytesPerSec` is the disk tier's. @defaultValue 8 GB/s
   */
  readonly hostLoadBytesPerSec: number;
  /** Window of "a request soon" for staging a model's file into host memory. @defaultValue 15 min */
  readonly stageHorizonMs: number;
  /**
   * A model with no replica is staged into a host's page cache when its probability of a request
   * within `stageHorizonMs` reaches this. Staging costs no VRAM, only a disk read and page cache
   * that the least recently read files give up. @defaultValue 0.3
   */
  readonly stageMinProbability: number;
  /** Most stage commands one decision sends (0: never stage). @defaultValue 4 */
  readonly stageMaxPerDecision: number;
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
  /**
   * Hysteresis: no scale-down within this long of the last scale change (up or down), and a
   * scale-up is never followed by a drain sooner. @defaultValue 5 min
   */
  readonly scaleDownCooldownMs: number;
  /**
   * The cost knob: milliseconds of request waiting one GPU-second is worth. A worker is drained
   * and released when the waiting its models are expected to cause elsewhere within the demand
   * horizon (requests x reload, as eviction is priced) is below `gpus x horizon x this`; a queue
   * that has replicas buys a worker once its accumulated waiting reaches `cool-down x this`.
   * Higher: cheaper fleets, longer queues and more cold loads; 0: never scale down for cost (only
   * the empty-worker rule). 2000 met the simulator's autoscaling goal (at most 0.75x the scaling
   * baseline's GPU-seconds at a p95 no worse) where 1000 and 1250 missed it (docs/operations.md).
   * @defaultValue 2000
   */
  readonly scaleWaitMsPerGpuSecond: number;
  /**
   * The latency target (FABRIC_TARGET_P95_MS): the p95 of the wait a request sees before its
   * model runs, as forecast from the queues and the arrival history over the cool-down
   * (scheduler/wait-forecast.ts). Above 0 it replaces the cost knob for scaling: a worker is
   * bought only when the forecast with the fleet as it is passes the target (and one more worker
   * lowers it), and drained only when the forecast without it still meets the target. 0: no
   * target, the cost knob decides. @defaultValue 0
   */
  readonly targetP95Ms: number;
  /**
   * How long a new worker takes from the scale-up to taking jobs (node, pod, engine start): the
   * wait a scale-up cannot save, so cold models that could not be placed buy a worker only when
   * they are expected to wait longer than this for room. @defaultValue 60 s
   */
  readonly workerStartMs: number;
  /**
   * Whether idle workers may be drained for a scale-down. Off when the scale actuator cannot
   * remove a worker (the log actuator: compose and `npm start`), where a drained worker would stay
   * up and empty for good, its capacity lost. @defaultValue true
   */
  readonly drainWorkers: boolean;
  /**
   * Worker pools (one Deployment each, per GPU class). Empty: one anonymous pool bounded by
   * `minWorkers`/`maxWorkers`, as before pools existed.
   */
  readonly pools: readonly WorkerPoolSpec[];
  /** Scale-down never asks for fewer workers. @defaultValue 1 */
  readonly minWorkers: number;
  /** Scale-up never asks for more workers (actuators clamp as well). @defaultValue Infinity */
  readonly maxWorkers: number;
}

/** One worker pool: workers of one GPU class, scaled on their own (a Deployment in k8s/). */
export interface WorkerPoolSpec {
  /** Matches the `pool` of the heartbeats of its workers (FABRIC_WORKER_POOL). */
  readonly name: string;
  /** Memory of one GPU of its workers. */
  readonly gpuBytes: number;
  /** GPUs per worker: a model up to `gpus x gpuBytes` (less headroom) fits one of its workers. */
  readonly gpus: number;
  readonly minWorkers: number;
  readonly maxWorkers: number;
}

/** What callers may pass: any subset, `pinned` as any iterable of names. */
export type SchedulerPolicyInput = Partial<Omit<SchedulerPolicy, 'pinned'>> & { pinned?: Iterable<string> };

export const SCHEDULER_POLICY_DEFAULTS: SchedulerPolicy = Object.freeze({
  pinned: new Set<string>(),
  minResidencyMs: 30_000,
  loadBytesPerSec: 2e9,
  loadFixedMs: 2_000,
  hostLoadBytesPerSec: 8e9,
  stageHorizonMs: 900_000,
  stageMinProbability: 0.3,
  stageMaxPerDecision: 4,
  demandHorizonMs: 60_000,
  histogramMinSamples: 4,
  replicaWaitTargetMs: 2_000,
  replicaIdleMs: 300_000,
  replicaEvictionRatio: 0.25,
  maxReplicas: 8,
  prewarmHorizonMs: 60_000,
  prewarmMinProbability: 0.8,
  prewarmMaxLoads: 2,
  scaleDownCooldownMs: 300_000,
  scaleWaitMsPerGpuSecond: 2_000,
  targetP95Ms: 0,
  workerStartMs: 60_000,
  drainWorkers: true,
  pools: [],
  minWorkers: 1,
  maxWorkers: Infinity,
});

type NumericKey = Exclude<keyof SchedulerPolicy, 'pinned' | 'pools' | 'drainWorkers'>;

/** Lower bound (inclusive unless `gt`) and whether the knob must be an integer. */
const BOUNDS: Record<NumericKey, Bound> = {
  minResidencyMs: { min: 0 },
  loadBytesPerSec: { min: 0, gt: true },
  loadFixedMs: { min: 0 },
  hostLoadBytesPerSec: { min: 0, gt: true },
  stageHorizonMs: { min: 0, gt: true },
  stageMinProbability: { min: 0, max: 1 },
  stageMaxPerDecision: { min: 0, int: true },
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
  scaleWaitMsPerGpuSecond: { min: 0 },
  targetP95Ms: { min: 0, env: 'FABRIC_TARGET_P95_MS' },
  workerStartMs: { min: 0, env: 'FABRIC_WORKER_START_TIME' },
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
  validatePools(policy.pools);
  return Object.freeze({ ...policy, pools: Object.freeze(policy.pools.map((p) => Object.freeze({ ...p }))) });
}

function validatePools(pools: readonly WorkerPoolSpec[]): void {
  const names = new Set<string>();
  for (const p of pools) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(p.name)) throw new ConfigError(`worker pool name ${JSON.stringify(p.name)} must be lower-case letters, digits and dashes`);
    if (names.has(p.name)) throw new ConfigError(`worker pool ${p.name} is named twice`);
    names.add(p.name);
    if (!(p.gpuBytes > 0) || !Number.isInteger(p.gpus) || p.gpus < 1) throw new ConfigError(`worker pool ${p.name} needs gpuBytes > 0 and gpus >= 1`);
    if (!Number.isInteger(p.minWorkers) || p.minWorkers < 0 || !(p.maxWorkers >= Math.max(1, p.minWorkers))) {
      throw new ConfigError(`worker pool ${p.name} needs 0 <= minWorkers <= maxWorkers and maxWorkers >= 1`);
    }
  }
}
