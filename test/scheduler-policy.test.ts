/** The scheduler's policy rules in the pure `decide`: table-driven, no Redis (one round trip test at the end). */
import { afterAll, describe, expect, it } from 'vitest';
import { arrivalStatsAt, nextArrivalRecord, parseArrivalRecord, type ArrivalRecord, type ArrivalStats } from '../protocol/arrivals.ts';
import { recordArrival } from '../store/arrival-store.ts';
import type { OperatorHold } from '../protocol/operator-holds.ts';
import type { CatalogEntry, Heartbeat, ResidentModelInfo } from '../protocol/worker-state.ts';
import { blockedModels, decide, type Action } from '../scheduler/decide.ts';
import { histogramProbability } from '../scheduler/demand.ts';
import { schedulerConfigFromEnv } from '../scheduler/config.ts';
import { ConfigError } from '../protocol/env.ts';
import { forecastP95Ms, weightedP95 } from '../scheduler/wait-forecast.ts';
import { schedulerPolicy, type SchedulerPolicyInput } from '../scheduler/policy.ts';
import { readSnapshot, type QueueDepth, type Snapshot } from '../scheduler/snapshot.ts';
import { newRedis, testKeys } from './support/redis.ts';
import { heartbeatOf, residentOf } from './support/heartbeats.ts';

const GB = 1e9;
const NOW = 100_000_000;
const MIN = 60_000;

function res(model: string, sizeGb: number, o: Partial<ResidentModelInfo> = {}): ResidentModelInfo {
  return residentOf(model, sizeGb * GB, NOW - 60 * MIN, NOW - 10 * MIN, o);
}

function hb(workerId: string, capacityGb: number, o: Partial<Heartbeat> = {}): Heartbeat {
  return heartbeatOf(workerId, capacityGb * GB, NOW, o);
}

function cat(name: string, sizeGb: number, estimatedGb: number | null = null): CatalogEntry {
  return { name, sizeBytes: sizeGb * GB, engine: 'fake', family: null, parameterSize: null, quantization: null, digest: null, modifiedAt: '', contextLength: null, estimatedBytes: estimatedGb === null ? null : estimatedGb * GB };
}

const CATALOG = [cat('a', 4), cat('b', 4), cat('c', 4), cat('x', 2), cat('y', 2), cat('est', 4, 8.5), cat('big', 9.5)];

interface SnapExtras {
  measured?: Record<string, number>;
  arrivals?: Record<string, ArrivalStats>;
  lastScaleAt?: number;
  holds?: Record<string, OperatorHold>;
}

function snap(workers: Heartbeat[], queues: Record<string, Partial<QueueDepth>>, extras: SnapExtras = {}): Snapshot {
  return {
    now: NOW,
    workers,
    catalog: new Map(CATALOG.map((c) => [c.name, c])),
    queues: new Map(Object.entries(queues).map(([m, q]) => [m, { waiting: 0, active: 0, oldestWaitMs: null, ...q }])),
    ...(extras.measured ? { measured: new Map(Object.entries(extras.measured).map(([k, gb]) => [k, gb * GB])) } : {}),
    ...(extras.arrivals ? { arrivals: new Map(Object.entries(extras.arrivals)) } : {}),
    ...(extras.lastScaleAt !== undefined ? { lastScaleAt: extras.lastScaleAt } : {}),
    ...(extras.holds ? { holds: new Map(Object.entries(extras.holds)) } : {}),
  };
}

/** History of a model requested every `gapMs` (`n` times), last one `agoMs` before NOW. */
function periodic(gapMs: number, n: number, agoMs: number): ArrivalStats {
  let rec: ArrivalRecord | undefined;
  const last = NOW - agoMs;
  for (let i = n - 1; i >= 0; i--) rec = nextArrivalRecord(rec, last - i * gapMs);
  return arrivalStatsAt(rec!, NOW);
}

const load = (model: string, worker: string, reason: 'cold_backlog' | 'replica_backlog' | 'prewarm' = 'cold_backlog'): Action => ({ type: 'load', model, worker, reason });
const evict = (model: string, worker: string, forModel: string): Action => ({ type: 'unload', model, worker, reason: 'make_room', forModel });
const trim = (model: string, worker: string): Action => ({ type: 'unload', model, worker, reason: 'replica_idle' });
const up = (desiredWorkers: number, models: string[], reason: 'unplaceable' | 'saturated' | 'target' = 'unplaceable'): Action => ({ type: 'scale', desiredWorkers, reason, models });
const drain = (worker: string, costMs = 0, worthMs = 120_000): Action => ({ type: 'drain', worker, reason: 'cost', costMs, worthMs });

interface Case {
  name: string;
  snapshot: Snapshot;
  policy?: SchedulerPolicyInput;
  expected: Action[];
}

const waiting = (n = 1, oldestWaitMs = 500): Partial<QueueDepth> => ({ waiting: n, oldestWaitMs });

const PLACEMENT: Case[] = [
  {
    name: 'places a model whose estimate fits under the 10% headroom',
    snapshot: snap([hb('w1', 10)], { est: waiting() }),
    expected: [load('est', 'w1')],
  },
  {
    name: 'does not place a model that fits only by eating into the headroom, and asks for a worker',
    snapshot: snap([hb('w1', 10)], { big: waiting() }),
    expected: [up(2, ['big'])],
  },
  {
    name: 'lets a measured footprint that does not fit win over a small catalog size',
    snapshot: snap([hb('w1', 10)], { a: waiting() }, { measured: { 'fake a': 9.5 } }),
    expected: [up(2, ['a'])],
  },
  {
    name: 'lets a measured footprint that fits win over a large estimate',
    snapshot: snap([hb('w1', 8)], { est: waiting() }, { measured: { 'fake est': 5 } }),
    expected: [load('est', 'w1')],
  },
  {
    name: 'reads a measured footprint per engine: another engine’s measurement does not count',
    snapshot: snap([hb('w1', 10)], { est: waiting() }, { measured: { 'ollama est': 9.8 } }),
    expected: [load('est', 'w1')],
  },
  {
    name: 'uses the GPUs’ free memory when the worker reports GPUs',
    snapshot: snap([hb('w1', 24, { gpus: [{ index: 0, uuid: 'g', name: 'gpu', memoryTotalBytes: 24 * GB, memoryUsedBytes: 19 * GB, memoryFreeBytes: 5 * GB, utilization: 0 }] }), hb('w2', 6)], { a: waiting() }),
    expected: [load('a', 'w2')],
  },
  {
    name: 'subtracts the reservations of loads in flight',
    snapshot: snap([hb('w1', 16, { loading: [{ model: 'x', startedAt: NOW, reservedBytes: 11 * GB }] }), hb('w2', 5)], { a: waiting() }),
    expected: [load('a', 'w2')],
  },
  {
    name: 'places only on healthy running workers of the model’s engine',
    snapshot: snap([hb('w1', 64, { engineHealthy: false }), hb('w2', 64, { engine: 'ollama' }), hb('w3', 64, { state: 'draining' }), hb('w4', 5)], { a: waiting() }),
    expected: [load('a', 'w4')],
  },
  {
    name: 'books placements so that two loads never overfill one worker',
    snapshot: snap([hb('w1', 8)], { a: waiting(1, 900), b: waiting(1, 800) }),
    expected: [load('a', 'w1'), up(2, ['b'])],
  },
];

const EVICTION: Case[] = [
  {
    name: 'evicts the model least likely to be requested soon by its arrival history, not the least recently used',
    snapshot: snap([hb('w1', 9, { resident: [res('x', 4, { lastUsedAt: NOW - 30 * MIN }), res('y', 4, { lastUsedAt: NOW - 2 * MIN })] })], { a: waiting() }, {
      arrivals: { x: periodic(20_000, 30, 20_000), y: periodic(3_600_000, 2, 2 * MIN) },
    }),
    expected: [evict('y', 'w1', 'a'), load('a', 'w1')],
  },
  {
    name: 'ranks victims by requests expected, not by a probability that saturates: one request in 30 s goes before one every 5 s',
    // Both are near certain to be asked for within the 60 s horizon, and x's reload is the shorter (it
    // is smaller); but x would be asked for 12 times in that minute, y about twice.
    snapshot: snap([hb('w1', 10, { resident: [res('x', 4, { lastUsedAt: NOW - 5_000 }), res('y', 4.5, { lastUsedAt: NOW - 10_000 })] })], { a: waiting() }, {
      arrivals: { x: periodic(5_000, 200, 5_000), y: periodic(30_000, 100, 10_000) },
    }),
    expected: [evict('y', 'w1', 'a'), load('a', 'w1')],
  },
  {
    name: 'evicts one large idle model rather than two small ones when that costs less',
    snapshot: snap([hb('w1', 9, { resident: [res('x', 2, { lastUsedAt: NOW - 2 * MIN }), res('y', 2, { lastUsedAt: NOW - 2 * MIN }), res('b', 4, { lastUsedAt: NOW - 2 * MIN })] })], { a: waiting() }),
    expected: [evict('b', 'w1', 'a'), load('a', 'w1')],
  },
  {
    name: 'frees enough for the headroom too: evicts two models where one would fit without headroom',
    snapshot: snap([hb('w1', 10, { resident: [res('x', 3), res('b', 3.5), res('y', 3, { lastUsedAt: NOW - 5_000 })] })], { a: waiting() }),
    expected: [evict('b', 'w1', 'a'), evict('x', 'w1', 'a'), load('a', 'w1')],
  },
  {
    name: 'never evicts a pinned model',
    policy: { pinned: ['b'] },
    snapshot: snap([hb('w1', 5, { resident: [res('b', 4)] })], { a: waiting() }),
    expected: [up(2, ['a'])],
  },
  {
    name: 'never evicts a model an operator pinned while the pin lasts',
    snapshot: snap([hb('w1', 5, { resident: [res('b', 4)] })], { a: waiting() }, { holds: { b: { kind: 'pin', until: NOW + MIN, at: NOW - MIN } } }),
    expected: [up(2, ['a'])],
  },
  {
    name: 'never evicts a busy model',
    snapshot: snap([hb('w1', 5, { resident: [res('b', 4, { activeJobs: 1 })] })], { a: waiting() }),
    expected: [up(2, ['a'])],
  },
  {
    name: 'never evicts a model with jobs waiting in its queue',
    snapshot: snap([hb('w1', 5, { resident: [res('b', 4)] })], { a: waiting(1, 900), b: waiting(1, 100) }),
    expected: [up(2, ['a'])],
  },
  {
    name: 'a cold backlog may evict a model younger than the minimum residency',
    policy: { minResidencyMs: 5 * MIN },
    snapshot: snap([hb('w1', 5, { resident: [res('b', 4, { loadedAt: NOW - MIN })] })], { a: waiting() }),
    expected: [evict('b', 'w1', 'a'), load('a', 'w1')],
  },
  {
    name: 'a replica never evicts a model younger than the minimum residency',
    policy: { minResidencyMs: 5 * MIN },
    snapshot: snap([hb('w1', 5, { resident: [res('a', 4, { activeJobs: 1, lastUsedAt: NOW })] }), hb('w2', 5, { resident: [res('b', 4, { loadedAt: NOW - MIN })] })], {
      a: { waiting: 5, active: 1, oldestWaitMs: 5_000 },
    }),
    expected: [{ type: 'scale', desiredWorkers: 3, reason: 'saturated', models: ['a'] }],
  },
  {
    name: 'never evicts a loading model',
    snapshot: snap([hb('w1', 5, { loading: [{ model: 'b', startedAt: NOW, reservedBytes: 4 * GB }] })], { a: waiting() }),
    expected: [up(2, ['a'])],
  },
  {
    name: 'evicts only where one worker can make room, never a little here and a little there',
    snapshot: snap(
      [hb('w1', 6, { resident: [res('x', 2), res('b', 3, { activeJobs: 1 })] }), hb('w2', 6, { resident: [res('y', 2), res('c', 3, { activeJobs: 1 })] })],
      { a: waiting() },
    ),
    expected: [up(3, ['a'])],
  },
];

const busyA = (o: Partial<ResidentModelInfo> = {}) => res('a', 4, { activeJobs: 1, lastUsedAt: NOW, ...o });

const REPLICAS: Case[] = [
  {
    name: 'adds a replica on another worker when the wait is over target and the backlog exceeds free slots',
    snapshot: snap([hb('w1', 5, { resident: [busyA()] }), hb('w2', 10)], { a: { waiting: 5, active: 1, oldestWaitMs: 5_000 } }),
    expected: [load('a', 'w2', 'replica_backlog')],
  },
  {
    name: 'adds no replica while the wait is under target',
    snapshot: snap([hb('w1', 5, { resident: [busyA()] }), hb('w2', 10)], { a: { waiting: 5, active: 1, oldestWaitMs: 1_000 } }),
    expected: [],
  },
  {
    name: 'adds no replica when the replicas’ free slots absorb the backlog',
    snapshot: snap([hb('w1', 5, { slotsPerModel: 8, resident: [busyA()] }), hb('w2', 10)], { a: { waiting: 5, active: 1, oldestWaitMs: 5_000 } }),
    expected: [],
  },
  {
    name: 'adds no second replica while one is loading',
    snapshot: snap([hb('w1', 5, { resident: [busyA()] }), hb('w2', 10, { loading: [{ model: 'a', startedAt: NOW, reservedBytes: 4 * GB }] }), hb('w3', 10)], {
      a: { waiting: 5, active: 1, oldestWaitMs: 5_000 },
    }),
    expected: [],
  },
  {
    name: 'asks for a worker when a backlogged model’s next replica has no room',
    snapshot: snap([hb('w1', 5, { resident: [busyA()] }), hb('w2', 5, { resident: [res('b', 4, { activeJobs: 1 })] })], { a: { waiting: 5, active: 1, oldestWaitMs: 5_000 } }),
    expected: [up(3, ['a'], 'saturated')],
  },
  {
    name: 'a long queue gets its replica by evicting a rarely used idle model',
    // 20 jobs, the oldest waiting 60 s, save ~300 s of waiting; b (asked for once an hour) costs well under a quarter of that.
    snapshot: snap([hb('w1', 5, { resident: [busyA()] }), hb('w2', 5, { resident: [res('b', 4)] })], { a: { waiting: 20, active: 1, oldestWaitMs: 60_000 } }, {
      arrivals: { b: periodic(3_600_000, 3, 30 * MIN) },
    }),
    expected: [evict('b', 'w2', 'a'), load('a', 'w2', 'replica_backlog')],
  },
  {
    name: 'a short queue does not evict a busy-but-idle-now model for a replica, and asks for a worker instead',
    // b is asked for every 5 s: its reloads cost more than a quarter of 5 jobs x 2.5 s / 2.
    snapshot: snap([hb('w1', 5, { resident: [busyA()] }), hb('w2', 5, { resident: [res('b', 4, { lastUsedAt: NOW - 2_000 })] })], { a: { waiting: 5, active: 1, oldestWaitMs: 5_000 } }, {
      arrivals: { b: periodic(5_000, 200, 2_000) },
    }),
    expected: [up(3, ['a'], 'saturated')],
  },
  {
    name: 'replicaEvictionRatio 0 keeps replicas to free memory',
    policy: { replicaEvictionRatio: 0 },
    snapshot: snap([hb('w1', 5, { resident: [busyA()] }), hb('w2', 5, { resident: [res('b', 4)] })], { a: { waiting: 20, active: 1, oldestWaitMs: 60_000 } }, {
      arrivals: { b: periodic(3_600_000, 3, 30 * MIN) },
    }),
    expected: [up(3, ['a'], 'saturated')],
  },
  {
    name: 'removes an extra replica idle for replicaIdleMs and keeps the recently used one',
    snapshot: snap([hb('w1', 5, { resident: [res('a', 4, { lastUsedAt: NOW - 20 * MIN })] }), hb('w2', 5, { resident: [res('a', 4, { lastUsedAt: NOW - MIN })] })], { a: {} }),
    expected: [trim('a', 'w1')],
  },
  {
    name: 'keeps one replica when every replica is idle, the most recently used',
    snapshot: snap(
      [
        hb('w1', 5, { resident: [res('a', 4, { lastUsedAt: NOW - 20 * MIN })] }),
        hb('w2', 5, { resident: [res('a', 4, { lastUsedAt: NOW - 8 * MIN })] }),
        hb('w3', 5, { resident: [res('a', 4, { lastUsedAt: NOW - 30 * MIN })] }),
      ],
      { a: {} },
    ),
    expected: [trim('a', 'w3'), trim('a', 'w1')],
  },
  {
    name: 'keeps idle replicas while jobs wait for the model',
    snapshot: snap([hb('w1', 5, { resident: [res('a', 4)] }), hb('w2', 5, { resident: [res('a', 4)] })], { a: { waiting: 1, oldestWaitMs: 10 } }),
    expected: [],
  },
];

const PREWARM: Case[] = [
  {
    name: 'does not pre-warm a model an operator unloaded while the hold lasts',
    snapshot: snap([hb('w1', 10)], {}, { arrivals: { a: periodic(5_000, 20, 3_000) }, holds: { a: { kind: 'hold', until: NOW + MIN, at: NOW - 1_000 } } }),
    expected: [],
  },
  {
    name: 'pre-warms a held model again once its hold time has passed',
    snapshot: snap([hb('w1', 10)], {}, { arrivals: { a: periodic(5_000, 20, 3_000) }, holds: { a: { kind: 'hold', until: NOW - 1, at: NOW - MIN } } }),
    expected: [load('a', 'w1', 'prewarm')],
  },
  {
    name: 'does not load a model held until the next operator load, even for waiting jobs',
    snapshot: snap([hb('w1', 10)], { a: { waiting: 3, oldestWaitMs: 60_000 } }, { holds: { a: { kind: 'hold', until: 0, at: NOW - MIN } } }),
    expected: [],
  },
  {
    name: 'pre-warms a model with a high recent arrival rate into free memory',
    snapshot: snap([hb('w1', 10)], {}, { arrivals: { a: periodic(5_000, 20, 3_000) } }),
    expected: [load('a', 'w1', 'prewarm')],
  },
  {
    name: 'pre-warms a model whose silence nears its usual gap, from the inter-arrival histogram',
    snapshot: snap([hb('w1', 10)], {}, { arrivals: { a: periodic(3_600_000, 10, 3_600_000 - 30_000) } }),
    expected: [load('a', 'w1', 'prewarm')],
  },
  {
    name: 'does not pre-warm a model half-way through its usual gap',
    snapshot: snap([hb('w1', 10)], {}, { arrivals: { a: periodic(3_600_000, 10, 1_800_000) } }),
    expected: [],
  },
  {
    name: 'pre-warms into free memory only, never evicting an idle model for it',
    snapshot: snap([hb('w1', 5, { resident: [res('b', 4, { lastUsedAt: NOW - 60 * MIN })] })], {}, { arrivals: { a: periodic(5_000, 20, 3_000) } }),
    expected: [],
  },
  {
    name: 'pre-warms at most prewarmMaxLoads models, the likeliest first',
    policy: { prewarmMaxLoads: 1 },
    snapshot: snap([hb('w1', 20)], {}, { arrivals: { a: periodic(30_000, 20, 25_000), b: periodic(2_000, 20, 1_000) } }),
    expected: [load('b', 'w1', 'prewarm')],
  },
  {
    name: 'does not pre-warm a model already resident or loading',
    snapshot: snap([hb('w1', 20, { resident: [res('a', 4)], loading: [{ model: 'b', startedAt: NOW, reservedBytes: 4 * GB }] })], {}, {
      arrivals: { a: periodic(5_000, 20, 3_000), b: periodic(5_000, 20, 3_000) },
    }),
    expected: [],
  },
];

const idleWorker = (id: string, o: Partial<Heartbeat> = {}) => hb(id, 10, { lastUsedAt: NOW - 20 * MIN, ...o });

const SCALE: Case[] = [
  {
    name: 'a cold model with no room buys no worker while a replica is likely to free room before one starts',
    snapshot: snap([hb('w1', 5, { resident: [res('b', 4, { activeJobs: 1 })] })], { a: waiting() }),
    expected: [],
  },
  {
    name: 'a cold model with no room buys no worker while the waiting it saves is below a cool-down of GPU time (1 job, 2 min waited: 56 s of 600 s)',
    snapshot: snap([hb('w1', 5, { resident: [res('b', 4, { activeJobs: 1 })] })], { a: waiting(1, 2 * MIN) }),
    expected: [],
  },
  {
    name: 'a cold model with no room buys a worker once the waiting it saves passes its cost (20 jobs, 5 min waited)',
    snapshot: snap([hb('w1', 5, { resident: [res('b', 4, { activeJobs: 1 })] })], { a: waiting(20, 5 * MIN) }),
    expected: [up(2, ['a'])],
  },
  {
    name: 'a model larger than every running worker buys a worker at once (nothing else will ever hold it)',
    snapshot: snap([hb('w1', 5)], { big: waiting() }),
    expected: [up(2, ['big'])],
  },
  {
    name: 'scale to zero: with no worker at all, the first job buys one',
    policy: { minWorkers: 0 },
    snapshot: snap([], { a: waiting() }),
    expected: [up(1, ['a'])],
  },
  {
    name: 'scale to zero per pool: the first job buys a worker of the smallest pool that holds it',
    policy: { minWorkers: 0, pools: [{ name: 'large', gpuBytes: 20 * GB, gpus: 1, minWorkers: 0, maxWorkers: 2 }, { name: 'small', gpuBytes: 11 * GB, gpus: 1, minWorkers: 0, maxWorkers: 2 }] },
    snapshot: snap([], { big: waiting() }),
    expected: [{ type: 'scale', desiredWorkers: 1, reason: 'unplaceable', models: ['big'], pool: 'small' }],
  },
  {
    name: 'latency target: buys a worker when the forecast p95 wait passes it and one more worker lowers it (c reloads: 4 s > 1 s)',
    policy: { targetP95Ms: 1_000 },
    snapshot: snap([hb('w1', 10, { resident: [res('a', 4), res('b', 4)] })], {}, { arrivals: { a: periodic(1_000, 200, 500), b: periodic(1_000, 200, 500), c: periodic(1_000, 200, 500) } }),
    expected: [up(2, [], 'target')],
  },
  {
    name: 'latency target: buys nothing while the forecast meets it (4 s <= 5 s)',
    policy: { targetP95Ms: 5_000 },
    snapshot: snap([hb('w1', 10, { resident: [res('a', 4), res('b', 4)] })], {}, { arrivals: { a: periodic(1_000, 200, 500), b: periodic(1_000, 200, 500), c: periodic(1_000, 200, 500) } }),
    expected: [],
  },
  {
    name: 'latency target: a cold model with no room buys a worker only when the target needs it',
    policy: { targetP95Ms: 60 * MIN },
    snapshot: snap([hb('w1', 5, { resident: [res('b', 4, { activeJobs: 1 })] })], { a: waiting(20, 5 * MIN) }),
    expected: [],
  },
  {
    name: 'latency target: drains a worker when the target holds without it',
    policy: { targetP95Ms: 5_000 },
    snapshot: snap([hb('w1', 10, { resident: [res('a', 4), res('b', 4)] }), idleWorker('w2')], {}, { arrivals: { a: periodic(1_000, 200, 500), b: periodic(1_000, 200, 500) } }),
    expected: [{ type: 'drain', worker: 'w2', reason: 'target', costMs: 0, worthMs: 120_000 }],
  },
  {
    name: 'latency target: keeps a worker whose models would otherwise reload past the target',
    policy: { targetP95Ms: 1_000 },
    snapshot: snap([hb('w1', 10, { resident: [res('a', 4), res('b', 4)] }), idleWorker('w2', { resident: [res('c', 4)] })], {}, { arrivals: { a: periodic(1_000, 200, 500), b: periodic(1_000, 200, 500), c: periodic(1_000, 200, 500) } }),
    expected: [],
  },
  {
    name: 'does not ask again while a worker is starting',
    snapshot: snap([hb('w1', 5, { resident: [res('b', 4, { activeJobs: 1 })] }), hb('w2', 10, { state: 'starting' })], { a: waiting() }),
    expected: [],
  },
  {
    name: 'never asks beyond maxWorkers',
    policy: { maxWorkers: 1 },
    snapshot: snap([hb('w1', 5, { resident: [res('b', 4, { activeJobs: 1 })] })], { a: waiting(20, 5 * MIN) }),
    expected: [],
  },
  {
    name: 'drains an idle worker whose models nobody is expected to ask for (the emptiest first)',
    snapshot: snap([idleWorker('w1'), hb('w2', 10, { resident: [res('b', 4)] })], {}),
    expected: [drain('w1')],
  },
  {
    name: 'with the cost knob at 0, drains only a worker unused for the cool-down',
    policy: { scaleWaitMsPerGpuSecond: 0 },
    snapshot: snap([idleWorker('w1', { lastUsedAt: NOW - 2 * MIN }), hb('w2', 10, { resident: [res('b', 4)] })], {}),
    expected: [],
  },
  {
    name: 'does not scale down within the cool-down of the last scale change',
    snapshot: snap([idleWorker('w1'), hb('w2', 10)], {}, { lastScaleAt: NOW - 2 * MIN }),
    expected: [],
  },
  {
    name: 'does not scale down while a job waits past its target',
    snapshot: snap([idleWorker('w1'), hb('w2', 10, { resident: [res('b', 4, { activeJobs: 1 })] })], { b: { waiting: 1, oldestWaitMs: 5_000 } }),
    expected: [],
  },
  {
    name: 'does not scale down below minWorkers',
    snapshot: snap([idleWorker('w1')], {}),
    expected: [],
  },
  {
    name: 'a saturated queue does not buy a worker before its waiting reaches a cool-down of GPU time (100 s of 600 s)',
    snapshot: snap([hb('w1', 5, { resident: [busyA()] }), hb('w2', 5, { resident: [res('b', 4, { activeJobs: 1 })] })], { a: { waiting: 10, active: 1, oldestWaitMs: 20_000 }, b: { active: 1 } }),
    expected: [],
  },
  {
    name: 'a saturated queue buys a worker once its waiting reaches a cool-down of GPU time (800 s of 600 s)',
    snapshot: snap([hb('w1', 5, { resident: [busyA()] }), hb('w2', 5, { resident: [res('b', 4, { activeJobs: 1 })] })], { a: { waiting: 40, active: 1, oldestWaitMs: 40_000 }, b: { active: 1 } }),
    expected: [up(3, ['a'], 'saturated')],
  },
  {
    name: 'drains the empty worker past its cool-down, not the newer one that started within it',
    snapshot: snap([idleWorker('w1', { startedAt: NOW - 2 * MIN }), hb('w2', 10)], {}),
    expected: [drain('w2')],
  },
  {
    name: 'does not drain a worker whose second copy of a model in demand was used a minute ago',
    snapshot: snap([hb('w1', 10, { resident: [res('a', 4, { lastUsedAt: NOW - MIN })] }), hb('w2', 10, { resident: [busyA()] })], { a: { active: 1 } }, {
      arrivals: { a: periodic(1_000, 200, 500) },
    }),
    expected: [],
  },
  {
    name: 'trims and drains a worker whose second copy has been idle for replicaIdleMs',
    snapshot: snap([hb('w1', 10, { resident: [res('a', 4, { lastUsedAt: NOW - 6 * MIN })] }), hb('w2', 10, { resident: [busyA()] })], { a: { active: 1 } }, {
      arrivals: { a: periodic(1_000, 200, 500) },
    }),
    expected: [trim('a', 'w1'), drain('w1')],
  },
  {
    name: 'does not drain the only home of a pinned model (an empty worker goes instead)',
    policy: { pinned: ['b'] },
    snapshot: snap([idleWorker('w1', { resident: [res('b', 4)] }), hb('w2', 10)], {}),
    expected: [drain('w2')],
  },
];

const ALL = { placement: PLACEMENT, eviction: EVICTION, replicas: REPLICAS, 'pre-warm': PREWARM, scale: SCALE };

// Scale-down for cost has its own group (and test/scheduler-fleet.test.ts); elsewhere an idle
// worker of a table would otherwise be drained beside the action under test.
const NO_COST_SCALING: SchedulerPolicyInput = { scaleWaitMsPerGpuSecond: 0 };

for (const [group, cases] of Object.entries(ALL)) {
  describe(`decide: ${group}`, () => {
    it.each(cases)('$name', ({ snapshot, policy, expected }) => {
      expect(decide(snapshot, schedulerPolicy({ ...(group === 'scale' ? {} : NO_COST_SCALING), ...policy }))).toEqual(expected);
    });
  });
}

describe('latency target knob', () => {
  it('reads FABRIC_TARGET_P95_MS as milliseconds or a duration, off by default, and rejects bad values', () => {
    expect(schedulerPolicy().targetP95Ms).toBe(0);
    expect(schedulerConfigFromEnv({ FABRIC_TARGET_P95_MS: '3000' }).options.policy).toMatchObject({ targetP95Ms: 3000 });
    expect(schedulerConfigFromEnv({ FABRIC_TARGET_P95_MS: '2.5s', FABRIC_WORKER_START_TIME: '90s' }).options.policy).toMatchObject({ targetP95Ms: 2500, workerStartMs: 90_000 });
    expect(() => schedulerConfigFromEnv({ FABRIC_TARGET_P95_MS: 'soon' })).toThrow(ConfigError);
    expect(() => schedulerPolicy({ targetP95Ms: -1 })).toThrow(/FABRIC_TARGET_P95_MS \(scheduler policy targetP95Ms\) must be >= 0/);
    expect(() => schedulerPolicy({ workerStartMs: Number.NaN })).toThrow(ConfigError);
  });

  it('forecasts the p95 of waits weighted by the requests expected of each model', () => {
    expect(weightedP95([{ requests: 96, waitMs: 0 }, { requests: 4, waitMs: 9_000 }])).toBe(0);
    expect(weightedP95([{ requests: 90, waitMs: 0 }, { requests: 10, waitMs: 9_000 }])).toBe(9_000);
    expect(weightedP95([])).toBe(0);
    const arrivals = { a: periodic(1_000, 200, 500), b: periodic(1_000, 200, 500), c: periodic(1_000, 200, 500) };
    const s = snap([hb('w1', 10, { resident: [res('a', 4), res('b', 4)] })], {}, { arrivals });
    // c does not fit beside a and b: a third of the requests reload it (2 s fixed + 4 GB at 2 GB/s).
    expect(forecastP95Ms(s, schedulerPolicy())).toBe(4_000);
    expect(forecastP95Ms(s, schedulerPolicy(), { addBytes: 9 * GB })).toBe(0);
    // A model no worker could hold waits forever without a new one.
    expect(forecastP95Ms(snap([], { a: waiting(20) }), schedulerPolicy())).toBe(Infinity);
  });
});

describe('decide: invariants over every case', () => {
  const cases = Object.values(ALL).flat();

  it('never plans a model twice, nor unloads one replica twice', () => {
    for (const c of cases) {
      const actions = decide(c.snapshot, schedulerPolicy(c.policy));
      const loads = actions.filter((a) => a.type === 'load').map((a) => a.model);
      const unloads = actions.filter((a) => a.type === 'unload').map((a) => `${a.worker}/${a.model}`);
      expect(new Set(loads).size, c.name).toBe(loads.length);
      expect(new Set(unloads).size, c.name).toBe(unloads.length);
    }
  });

  it('never plans a load on a worker that already holds or loads the model', () => {
    for (const c of cases) {
      for (const a of decide(c.snapshot, schedulerPolicy(c.policy))) {
        if (a.type !== 'load') continue;
        const w = c.snapshot.workers.find((x) => x.workerId === a.worker)!;
        expect(w.resident.some((m) => m.model === a.model) || w.loading.some((l) => l.model === a.model), c.name).toBe(false);
      }
    }
  });

  it('is pure: the same snapshot gives the same actions and is not changed', () => {
    for (const c of cases) {
      const before = JSON.stringify(c.snapshot.workers);
      expect(decide(c.snapshot, schedulerPolicy(c.policy)), c.name).toEqual(decide(c.snapshot, schedulerPolicy(c.policy)));
      expect(JSON.stringify(c.snapshot.workers)).toBe(before);
    }
  });
});

describe('blocked cold backlog', () => {
  it('names a waiting model that got no load for want of room, and not one that got a load or is served', () => {
    const busy = snap([hb('w1', 5, { resident: [res('b', 4, { activeJobs: 1 })] })], { a: waiting(), b: waiting() });
    expect(blockedModels(busy, decide(busy, schedulerPolicy()))).toEqual(['a']);
    const idle = snap([hb('w1', 5, { resident: [res('b', 4)] })], { a: waiting() });
    expect(blockedModels(idle, decide(idle, schedulerPolicy()))).toEqual([]);
  });
});

describe('arrival history', () => {
  it('puts histogram mass at each bucket’s mean gap and damps a thin history', () => {
    const hourly = periodic(3_600_000, 10, 0);
    expect(histogramProbability(hourly.interArrivalHistogram, hourly.interArrivalMeanMs, 3_570_000, 60_000, 4)).toBeGreaterThan(0.8);
    expect(histogramProbability(hourly.interArrivalHistogram, hourly.interArrivalMeanMs, 3_700_000, 60_000, 4)).toBe(0);
    expect(histogramProbability(hourly.interArrivalHistogram, hourly.interArrivalMeanMs, 3_570_000, 60_000, 20)).toBe(0);
  });

  it('decays the rate with time and halves the histogram past its cap', () => {
    let rec: ArrivalRecord | undefined;
    for (let i = 0; i < 1_100; i++) rec = nextArrivalRecord(rec, NOW + i * 100);
    const total = rec!.interArrivalHistogram.reduce((s, c) => s + c, 0);
    expect(total).toBeLessThanOrEqual(1_000);
    expect(arrivalStatsAt(rec!, rec!.lastArrivalAt + 600_000).recentRatePerSec).toBeLessThan(arrivalStatsAt(rec!, rec!.lastArrivalAt).recentRatePerSec / 1_000);
  });

  describe('in Redis', () => {
    const redis = newRedis();
    afterAll(() => redis.quit());

    it('records arrivals atomically as the pure updater does, and the snapshot reads them', async () => {
      const keys = testKeys();
      const times = [0, 400, 1_500, 9_000, 9_050, 70_000, 69_000].map((t) => NOW + t);
      let rec: ArrivalRecord | undefined;
      for (const t of times) {
        await recordArrival(redis, keys, 'a', t);
        rec = nextArrivalRecord(rec, t);
      }
      const stored = parseArrivalRecord(await redis.hgetall(keys.modelArrivals('a')))!;
      expect(stored.lastArrivalAt).toBe(rec!.lastArrivalAt);
      expect(stored.count).toBe(rec!.count);
      expect(stored.rateAtLastPerSec).toBeCloseTo(rec!.rateAtLastPerSec, 9);
      expect(stored.interArrivalHistogram).toEqual(rec!.interArrivalHistogram);
      expect(stored.interArrivalSumMs).toEqual(rec!.interArrivalSumMs);
      expect(await redis.pttl(keys.modelArrivals('a'))).toBeGreaterThan(0);

      await redis.hset(keys.catalog(), 'a', JSON.stringify(cat('a', 4)));
      await redis.hset(keys.footprints(), 'fake a', JSON.stringify({ measuredBytes: 5 * GB }));
      const s = await readSnapshot(redis, keys, NOW + 80_000);
      expect(s.arrivals?.get('a')).toEqual(arrivalStatsAt(stored, NOW + 80_000));
      expect(s.measured?.get('fake a')).toBe(5 * GB);
    });
  });
});
