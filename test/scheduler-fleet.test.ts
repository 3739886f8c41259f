/** `decide` on fleets that are not uniform: mixed GPU sizes, multi-GPU workers, pools, drain and release. Table-driven, no Redis. */
import { describe, expect, it } from 'vitest';
import type { CatalogEntry, GpuInfo, Heartbeat, ResidentModelInfo } from '../protocol/worker-state.ts';
import { decide, type Action } from '../scheduler/decide.ts';
import { buildLedgers, bookLoad } from '../scheduler/ledger.ts';
import { parsePools } from '../scheduler/config.ts';
import { schedulerPolicy, type SchedulerPolicyInput, type WorkerPoolSpec } from '../scheduler/policy.ts';
import type { QueueDepth, Snapshot } from '../scheduler/snapshot.ts';
import { heartbeatOf, residentOf } from './support/heartbeats.ts';

const GB = 1e9;
const NOW = 100_000_000;
const MIN = 60_000;

function cat(name: string, sizeGb: number): CatalogEntry {
  return { name, sizeBytes: sizeGb * GB, engine: 'fake', family: null, parameterSize: null, quantization: null, digest: null, modifiedAt: '', contextLength: null, estimatedBytes: null };
}

const CATALOG = [cat('small', 4), cat('mid', 20), cat('big', 60), cat('huge', 150), cat('split', 30)];

function gpus(...sizesGb: number[]): GpuInfo[] {
  return sizesGb.map((gb, index) => ({ index, uuid: `g${index}`, name: 'gpu', memoryTotalBytes: gb * GB, memoryUsedBytes: 0, memoryFreeBytes: gb * GB, utilization: 0 }));
}

/** A worker of `sizesGb` GPUs (one entry each), in `pool`. */
function w(id: string, sizesGb: number[], o: Partial<Heartbeat> = {}): Heartbeat {
  const total = sizesGb.reduce((s, g) => s + g, 0);
  return heartbeatOf(id, total * GB, NOW, { gpus: gpus(...sizesGb), host: `pod-${id}`, headroomRatio: 0, ...o });
}

function res(model: string, sizeGb: number, o: Partial<ResidentModelInfo> = {}): ResidentModelInfo {
  return residentOf(model, sizeGb * GB, NOW - 60 * MIN, NOW - 30 * MIN, o);
}

/** `w` with `models` resident and its GPUs' free memory lowered to match (all on GPU 0). */
function holding(id: string, sizesGb: number[], models: ResidentModelInfo[], o: Partial<Heartbeat> = {}): Heartbeat {
  const used = models.reduce((s, m) => s + m.sizeBytes, 0);
  const g = gpus(...sizesGb);
  g[0] = { ...g[0]!, memoryUsedBytes: used, memoryFreeBytes: g[0]!.memoryTotalBytes - used };
  return w(id, sizesGb, { resident: models, gpus: g, ...o });
}

function snap(workers: Heartbeat[], queues: Record<string, Partial<QueueDepth>>, lastScaleAt?: number): Snapshot {
  return {
    now: NOW,
    workers,
    catalog: new Map(CATALOG.map((c) => [c.name, c])),
    queues: new Map(Object.entries(queues).map(([m, q]) => [m, { waiting: 0, active: 0, oldestWaitMs: null, ...q }])),
    ...(lastScaleAt !== undefined ? { lastScaleAt } : {}),
  };
}

const waiting = (n = 1, oldestWaitMs = 500): Partial<QueueDepth> => ({ waiting: n, oldestWaitMs });
const load = (model: string, worker: string): Action => ({ type: 'load', model, worker, reason: 'cold_backlog' });
const POOLS: WorkerPoolSpec[] = [
  { name: 'small', gpuBytes: 24 * GB, gpus: 1, minWorkers: 1, maxWorkers: 4 },
  { name: 'large', gpuBytes: 80 * GB, gpus: 1, minWorkers: 0, maxWorkers: 2 },
];
const POOLED: SchedulerPolicyInput = { pools: POOLS };

interface Case {
  name: string;
  snapshot: Snapshot;
  policy?: SchedulerPolicyInput;
  expected: Action[];
}

const MIXED: Case[] = [
  {
    name: 'puts a large model on the large GPU, the only one that holds it',
    snapshot: snap([w('s1', [24]), w('l1', [80])], { big: waiting() }),
    expected: [load('big', 'l1')],
  },
  {
    name: 'keeps a small model off the large GPU while a small one has room',
    snapshot: snap([w('l1', [80]), w('s1', [24])], { small: waiting() }),
    expected: [load('small', 's1')],
  },
  {
    name: 'books both: the small model on the small GPU leaves the large one to the large model',
    snapshot: snap([w('l1', [80]), w('s1', [24])], { big: waiting(1, 900), small: waiting(1, 800) }),
    expected: [load('big', 'l1'), load('small', 's1')],
  },
  {
    name: 'a small model goes to the large GPU when the small ones are full of busy models',
    snapshot: snap([w('l1', [80]), holding('s1', [24], [res('mid', 22, { activeJobs: 1 })])], { small: waiting(), mid: { active: 1 } }),
    expected: [load('small', 'l1')],
  },
];

const MULTI_GPU: Case[] = [
  {
    name: 'splits a model larger than one GPU across a two-GPU worker',
    snapshot: snap([w('s1', [24]), w('d1', [24, 24])], { split: waiting() }),
    expected: [load('split', 'd1')],
  },
  {
    name: 'a model larger than every worker, GPUs together, asks for a worker instead',
    snapshot: snap([w('d1', [24, 24])], { huge: waiting() }),
    expected: [{ type: 'scale', desiredWorkers: 2, reason: 'unplaceable', models: ['huge'] }],
  },
];

const POOL_SCALING: Case[] = [
  {
    name: 'grows the pool whose workers hold the model that waits (the large one for a 60 GB model)',
    policy: POOLED,
    snapshot: snap([w('s1', [24], { pool: 'small' })], { big: waiting() }),
    expected: [{ type: 'scale', desiredWorkers: 1, reason: 'unplaceable', models: ['big'], pool: 'large' }],
  },
  {
    name: 'grows the smallest pool that holds a small model that fits nowhere',
    policy: POOLED,
    snapshot: snap([holding('s1', [24], [res('mid', 22, { activeJobs: 1 })], { pool: 'small' })], { small: waiting(20, 5 * MIN), mid: { active: 1 } }),
    expected: [{ type: 'scale', desiredWorkers: 2, reason: 'unplaceable', models: ['small'], pool: 'small' }],
  },
  {
    name: 'sizes a pool with the headroom its workers are configured with, not the default (20 GB does not fit 24 GB less 20%)',
    policy: POOLED,
    snapshot: snap([holding('s1', [24], [res('small', 4, { activeJobs: 1 })], { pool: 'small', headroomRatio: 0.2 })], { mid: waiting(), small: { active: 1 } }),
    expected: [{ type: 'scale', desiredWorkers: 1, reason: 'unplaceable', models: ['mid'], pool: 'large' }],
  },
  {
    name: 'asks nothing when the only pool that holds the model is at its maximum',
    policy: { ...POOLED, pools: [POOLS[0]!, { ...POOLS[1]!, maxWorkers: 1 }] },
    snapshot: snap([w('s1', [24], { pool: 'small' }), holding('l1', [80], [res('big', 60, { activeJobs: 1 })], { pool: 'large' })], { huge: waiting() }),
    expected: [],
  },
];

const DRAIN: Case[] = [
  {
    name: 'drains the emptiest idle worker when its models would cost less waiting than its GPU-seconds are worth',
    policy: POOLED,
    snapshot: snap([holding('s1', [24], [res('small', 4)], { pool: 'small' }), w('s2', [24], { pool: 'small' }), holding('l1', [80], [res('big', 60)], { pool: 'large' })], {}),
    expected: [{ type: 'drain', worker: 's2', reason: 'cost', costMs: 0, worthMs: 120_000 }],
  },
  {
    name: 'drains no worker when the actuator cannot remove one (drainWorkers off), however idle',
    policy: { ...POOLED, drainWorkers: false },
    snapshot: snap([holding('s1', [24], [res('small', 4)], { pool: 'small' }), w('s2', [24], { pool: 'small' }), holding('l1', [80], [res('big', 60)], { pool: 'large' })], {}),
    expected: [],
  },
  {
    name: 'keeps a worker whose model is in steady demand (expected waiting above its worth)',
    policy: { ...POOLED, scaleWaitMsPerGpuSecond: 10 },
    snapshot: snap([holding('s1', [24], [res('small', 4, { lastUsedAt: NOW - 1_000 })], { pool: 'small' }), holding('s2', [24], [res('mid', 20, { lastUsedAt: NOW - 1_000 })], { pool: 'small' })], {}),
    expected: [],
  },
  {
    name: 'never drains a pool below its minimum',
    policy: POOLED,
    snapshot: snap([w('s1', [24], { pool: 'small' }), holding('l1', [80], [res('big', 60, { activeJobs: 1 })], { pool: 'large' })], { big: { active: 1 } }),
    expected: [],
  },
  {
    name: 'drains nothing while another worker drains, nor within the cool-down of the last change',
    policy: POOLED,
    snapshot: snap([w('s1', [24], { pool: 'small' }), w('s2', [24], { pool: 'small' }), w('s3', [24], { pool: 'small', state: 'draining', drainedForScaleDown: true, activeJobs: 1 })], {}),
    expected: [],
  },
  {
    name: 'releases a worker that finished its drain, naming it and its pod',
    policy: POOLED,
    snapshot: snap([w('s1', [24], { pool: 'small' }), w('s2', [24], { pool: 'small', state: 'draining', drainedForScaleDown: true })], {}),
    expected: [{ type: 'scale', desiredWorkers: 1, reason: 'drained', models: [], pool: 'small', release: { worker: 's2', host: 'pod-s2' } }],
  },
  {
    name: 'does not release a worker draining for its own shutdown',
    policy: POOLED,
    snapshot: snap([holding('s1', [24], [res('small', 4, { activeJobs: 1 })], { pool: 'small' }), w('s2', [24], { pool: 'small', state: 'draining' })], { small: { active: 1 } }, NOW),
    expected: [],
  },
];

// Two large GPUs, both holding `big` (60 of 80 GB): the second copy leaves 20 GB, less than `split` (30) needs.
const bigTwice = (spareActive: number) => [
  w('s1', [24]),
  holding('l1', [80], [res('big', 60, { activeJobs: 2 })]),
  holding('l2', [80], [res('big', 60, { activeJobs: spareActive, lastUsedAt: NOW - 10_000 })]),
];

const SPARE_REPLICAS: Case[] = [
  {
    name: 'a cold model that waited longer than a reload evicts the idle second copy of a model busy elsewhere',
    snapshot: snap(bigTwice(0), { split: waiting(1, 40_000), big: { active: 2 } }),
    expected: [{ type: 'unload', model: 'big', worker: 'l2', reason: 'make_room', forModel: 'split' }, load('split', 'l2')],
  },
  {
    name: 'a cold model that waited less than that reload (32 s for 60 GB) leaves the copy and asks for a worker',
    snapshot: snap(bigTwice(0), { split: waiting(1, 5_000), big: { active: 2 } }),
    expected: [{ type: 'scale', desiredWorkers: 4, reason: 'unplaceable', models: ['split'] }],
  },
  {
    name: 'a second copy still running a job is unloaded once the cold model waited longer than its reload (its jobs finish first)',
    snapshot: snap(bigTwice(1), { split: waiting(1, 40_000), big: { active: 3 } }),
    expected: [
      { type: 'unload', model: 'big', worker: 'l2', reason: 'make_room', forModel: 'split' },
      { type: 'scale', desiredWorkers: 4, reason: 'unplaceable', models: ['split'] },
    ],
  },
  {
    name: 'a busy second copy stays while the cold model has waited less than its reload',
    snapshot: snap(bigTwice(1), { split: waiting(1, 20_000), big: { active: 3 } }),
    expected: [{ type: 'scale', desiredWorkers: 4, reason: 'unplaceable', models: ['split'] }],
  },
  {
    name: 'the only copy of a busy model is never unloaded for a cold one, however long it waited',
    snapshot: snap([w('s1', [24]), holding('l1', [80], [res('big', 60, { activeJobs: 1 })])], { split: waiting(1, 600_000), big: { active: 1 } }),
    expected: [{ type: 'scale', desiredWorkers: 3, reason: 'unplaceable', models: ['split'] }],
  },
];

// `big` is busy with a queue on l1; l2 holds `split` (30 GB), used 2 min ago, which no 24 GB GPU holds.
const replicaFor = (third: Heartbeat[]) =>
  snap([w('s1', [24]), holding('l1', [80], [res('big', 60, { activeJobs: 1 })]), holding('l2', [80], [res('split', 30, { lastUsedAt: NOW - 2 * MIN })]), ...third], {
    big: { waiting: 10, active: 1, oldestWaitMs: 20_000 },
  });

const DISPLACEMENT: Case[] = [
  {
    name: 'a replica does not evict a model whose only other home the replicated model fills',
    snapshot: replicaFor([]),
    expected: [],
  },
  {
    name: 'the same replica evicts it when another large GPU could hold it',
    snapshot: replicaFor([holding('l3', [80], [res('mid', 25, { activeJobs: 1 })])]),
    expected: [
      { type: 'unload', model: 'split', worker: 'l2', reason: 'make_room', forModel: 'big' },
      { type: 'load', model: 'big', worker: 'l2', reason: 'replica_backlog' },
    ],
  },
];

const ALL = { 'mixed sizes': MIXED, 'spare replicas': SPARE_REPLICAS, 'replica displacement': DISPLACEMENT, 'multi-GPU workers': MULTI_GPU, 'worker pools': POOL_SCALING, 'drain and release': DRAIN };

for (const [group, cases] of Object.entries(ALL)) {
  describe(`decide on mixed fleets: ${group}`, () => {
    it.each(cases)('$name', ({ snapshot, policy, expected }) => {
      // Spare replicas are about what is unloaded; the scale-up beside it is priced in test/scheduler-policy.test.ts,
      // so there the cost knob is 0 (a blocked cold model buys a worker at once, as the knob's 0 has always meant).
      expect(decide(snapshot, schedulerPolicy({ ...(group === 'spare replicas' ? { scaleWaitMsPerGpuSecond: 0 } : {}), ...policy }))).toEqual(expected);
    });
  });
}

describe('per-GPU ledger', () => {
  it('books a model that fits one GPU whole on the fullest GPU that holds it, and splits a larger one', () => {
    const g = gpus(24, 24);
    g[1] = { ...g[1]!, memoryUsedBytes: 10 * GB, memoryFreeBytes: 14 * GB };
    const [ledger] = buildLedgers(snap([w('d1', [24, 24], { gpus: g })], {}), schedulerPolicy({}));
    expect(ledger!.gpuFree).toEqual([24 * GB, 14 * GB]);
    expect(bookLoad(ledger!, 'small', 4 * GB)).toEqual([0, 4 * GB]);
    expect(bookLoad(ledger!, 'split', 30 * GB)).toEqual([24 * GB, 6 * GB]);
    expect(ledger!.gpuFree).toEqual([0, 4 * GB]);
    expect(ledger!.free).toBe(4 * GB);
  });

  it('keeps each GPU’s headroom: usable memory is never above the worker’s rule', () => {
    const [ledger] = buildLedgers(snap([w('d1', [24, 24], { headroomRatio: 0.1 })], {}), schedulerPolicy({}));
    expect(ledger!.gpuFree).toEqual([Math.floor(21.6 * GB), Math.floor(21.6 * GB)]);
    expect(ledger!.gpuFree.reduce((s, b) => s + b, 0)).toBeLessThanOrEqual(ledger!.free + 1);
  });
});

describe('FABRIC_WORKER_POOLS', () => {
  it('reads name:GPUSxSIZE:MIN-MAX entries and refuses a malformed one', () => {
    expect(parsePools('small:1x24GiB:1-4, large:2x80GiB:0-2')).toEqual([
      { name: 'small', gpus: 1, gpuBytes: 24 * 2 ** 30, minWorkers: 1, maxWorkers: 4 },
      { name: 'large', gpus: 2, gpuBytes: 80 * 2 ** 30, minWorkers: 0, maxWorkers: 2 },
    ]);
    expect(() => parsePools('large:80GiB')).toThrow(/name:GPUSxSIZE:MIN-MAX/);
    expect(() => schedulerPolicy({ pools: parsePools('a:1x24GiB:3-2') })).toThrow(/minWorkers <= maxWorkers/);
  });
});
