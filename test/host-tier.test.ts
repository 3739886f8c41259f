/**
 * Host memory as a tier: the scheduler's pure rules (placement by tier, eviction priced by where
 * the weights fall, staging), table-driven; the page cache measured and staged on real files; and
 * a real worker (llama.cpp, demo models) taking a stage command over its control stream, reporting
 * the cache in its heartbeat and recording load speeds per tier in the run's Redis.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrivalStatsAt, nextArrivalRecord, type ArrivalRecord, type ArrivalStats } from '../protocol/arrivals.ts';
import { parseControlCommand } from '../protocol/control.ts';
import { tierOf, type HostCacheReport } from '../protocol/host-cache.ts';
import { loadSpeedKey, nextLoadSpeed } from '../protocol/load-speeds.ts';
import { heartbeatSchema, type CatalogEntry, type Heartbeat } from '../protocol/worker-state.ts';
import { decide, type Action } from '../scheduler/decide.ts';
import { stageActions } from '../scheduler/host-tier.ts';
import { whyMissed } from '../sim/tier-sweep.ts';
import { PendingCommands } from '../scheduler/pending-commands.ts';
import { schedulerPolicy, type SchedulerPolicyInput } from '../scheduler/policy.ts';
import { readSnapshot, type QueueDepth, type Snapshot } from '../scheduler/snapshot.ts';
import { sendControl } from '../store/control-stream.ts';
import { LoadSpeedStore } from '../store/load-speed-store.ts';
import { ensureDemoModels } from '../worker/engines/llama-cpp/demo-models.ts';
import { LlamaCppEngine } from '../worker/engines/llama-cpp/llama-cpp-engine.ts';
import { HostCache } from '../worker/host-cache/host-cache.ts';
import { openPageCache, type PageCache } from '../worker/host-cache/page-cache.ts';
import { heartbeatOf, residentOf } from './support/heartbeats.ts';
import { log, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

const GB = 1e9;
const NOW = 100_000_000;
const MIN = 60_000;

const cat = (name: string, sizeGb: number): CatalogEntry => ({ name, sizeBytes: sizeGb * GB, engine: 'fake', family: null, parameterSize: null, quantization: null, digest: null, modifiedAt: '', contextLength: null, estimatedBytes: null });
const CATALOG = [cat('a', 4), cat('b', 4), cat('c', 4), cat('big', 20)];

/** A host cache holding whole files of `models` (GB each), within `budgetGb`. */
function cache(budgetGb: number, models: Record<string, number>, staging: string[] = []): HostCacheReport {
  return { budgetBytes: budgetGb * GB, models: Object.entries(models).map(([model, gb]) => ({ model, fileBytes: gb * GB, cachedBytes: gb * GB })), staging, measuredAt: NOW };
}

function hb(workerId: string, capacityGb: number, o: Partial<Heartbeat> = {}): Heartbeat {
  return heartbeatOf(workerId, capacityGb * GB, NOW, { headroomRatio: 0, ...o });
}

const res = (model: string, sizeGb: number, lastUsedAgoMs = 10 * MIN) => residentOf(model, sizeGb * GB, NOW - 60 * MIN, NOW - lastUsedAgoMs);

function periodic(gapMs: number, n: number, agoMs: number): ArrivalStats {
  let rec: ArrivalRecord | undefined;
  for (let i = n - 1; i >= 0; i--) rec = nextArrivalRecord(rec, NOW - agoMs - i * gapMs);
  return arrivalStatsAt(rec!, NOW);
}

function snap(workers: Heartbeat[], queues: Record<string, Partial<QueueDepth>>, arrivals: Record<string, ArrivalStats> = {}, loadSpeeds?: Record<string, number>): Snapshot {
  return {
    now: NOW,
    workers,
    catalog: new Map(CATALOG.map((c) => [c.name, c])),
    queues: new Map(Object.entries(queues).map(([m, q]) => [m, { waiting: 0, active: 0, oldestWaitMs: null, ...q }])),
    arrivals: new Map(Object.entries(arrivals)),
    ...(loadSpeeds ? { loadSpeeds: new Map(Object.entries(loadSpeeds)) } : {}),
  };
}

const loads = (actions: Action[]) => actions.filter((a) => a.type === 'load' || a.type === 'unload').map((a) => `${a.type} ${'model' in a ? a.model : ''}@${'worker' in a ? a.worker : ''}`);
const stages = (actions: Action[]) => actions.filter((a) => a.type === 'stage').map((a) => `${(a as { model: string }).model}@${(a as { worker: string }).worker}`);

describe('placement by tier (decide)', () => {
  const cases: { name: string; workers: Heartbeat[]; queues: Record<string, Partial<QueueDepth>>; policy?: SchedulerPolicyInput; speeds?: Record<string, number>; want: string[] }[] = [
    {
      name: 'without a host cache report: the worker with the most free memory',
      workers: [hb('w1', 24), hb('w2', 24, { resident: [res('b', 4)] })],
      queues: { a: { waiting: 1, oldestWaitMs: 100 } },
      want: ['load a@w1'],
    },
    {
      name: 'the worker whose page cache holds the file, though it has less free memory',
      workers: [hb('w1', 24, { hostCache: cache(48, {}) }), hb('w2', 24, { resident: [res('b', 4)], hostCache: cache(48, { a: 4 }) })],
      queues: { a: { waiting: 1, oldestWaitMs: 100 } },
      want: ['load a@w2'],
    },
    {
      name: 'a smaller class first even when a larger one has the file cached',
      workers: [hb('small', 24, { hostCache: cache(48, {}) }), hb('large', 80, { hostCache: cache(160, { a: 4 }) })],
      queues: { a: { waiting: 1, oldestWaitMs: 100 } },
      want: ['load a@small'],
    },
    {
      name: 'a file mostly out of the cache reads from disk: free memory decides',
      workers: [hb('w1', 24, { hostCache: cache(48, {}) }), hb('w2', 24, { resident: [res('b', 4)], hostCache: { ...cache(48, {}), models: [{ model: 'a', fileBytes: 4 * GB, cachedBytes: 2 * GB }] } })],
      queues: { a: { waiting: 1, oldestWaitMs: 100 } },
      want: ['load a@w1'],
    },
    {
      name: 'with evictions: the waiting jobs wait out the load, so the worker with the file cached wins at an equal eviction',
      workers: [
        hb('w1', 24, { resident: [res('b', 20)], hostCache: cache(48, {}) }),
        hb('w2', 24, { resident: [res('c', 20)], hostCache: cache(48, { big: 20 }) }),
      ],
      queues: { big: { waiting: 3, oldestWaitMs: 100 } },
      want: ['unload c@w2', 'load big@w2'],
    },
    {
      name: 'eviction priced by where the weights fall: the victim whose file stays cached is cheaper',
      workers: [
        hb('w1', 24, { resident: [res('b', 20, 30_000)], hostCache: cache(48, {}) }),
        hb('w2', 24, { resident: [res('c', 20, 30_000)], hostCache: cache(48, { c: 20 }) }),
      ],
      queues: { big: { waiting: 1, oldestWaitMs: 100 } },
      want: ['unload c@w2', 'load big@w2'],
    },
    {
      name: 'a cold backlog evicts an idle model on the host whose page cache holds the file, rather than read it from disk into free memory elsewhere, when the victim costs less than the load time saved',
      workers: [hb('w1', 24, { hostCache: cache(48, {}) }), hb('w2', 24, { resident: [res('c', 20)], hostCache: cache(48, { big: 20 }) })],
      queues: { big: { waiting: 1, oldestWaitMs: 100 } },
      want: ['unload c@w2', 'load big@w2'],
    },
    {
      name: 'but free memory reading from disk when the victim there is expected to cost more than the load time saved',
      workers: [hb('w1', 24, { hostCache: cache(48, {}) }), hb('w2', 24, { resident: [res('c', 20, 1_000)], hostCache: cache(48, { big: 20 }) })],
      queues: { big: { waiting: 1, oldestWaitMs: 100 } },
      want: ['load big@w1'],
    },
    {
      name: 'and never evicts for a faster tier on a larger class than the free memory it would otherwise use',
      workers: [hb('small', 24, { hostCache: cache(48, {}) }), hb('large', 80, { resident: [res('c', 70)], hostCache: cache(160, { big: 20 }) })],
      queues: { big: { waiting: 1, oldestWaitMs: 100 } },
      want: ['load big@small'],
    },
    {
      name: 'measured speeds override the assumed ones: a host tier measured no faster than disk gives no preference',
      workers: [hb('w1', 24, { hostCache: cache(48, {}) }), hb('w2', 24, { resident: [res('b', 4)], hostCache: cache(48, { a: 4 }) })],
      queues: { a: { waiting: 1, oldestWaitMs: 100 } },
      speeds: { [loadSpeedKey('fake', 'disk')]: 2e9, [loadSpeedKey('fake', 'host')]: 2e9 },
      want: ['load a@w1'],
    },
  ];
  it.each(cases)('$name', ({ workers, queues, policy, speeds, want }) => {
    expect(loads(decide(snap(workers, queues, {}, speeds), schedulerPolicy({ stageMaxPerDecision: 0, ...policy })))).toEqual(want);
  });
});

describe('staging (stageActions and decide)', () => {
  const often = periodic(MIN, 10, 30_000);
  const rare = periodic(6 * 60 * MIN, 5, 60 * MIN);
  const cases: { name: string; workers: Heartbeat[]; arrivals: Record<string, ArrivalStats>; policy?: SchedulerPolicyInput; queues?: Record<string, Partial<QueueDepth>>; want: string[] }[] = [
    { name: 'a predicted model goes to every host that could place it', workers: [hb('w1', 24, { hostCache: cache(48, {}) }), hb('w2', 24, { hostCache: cache(48, {}) })], arrivals: { a: often }, want: ['a@w1', 'a@w2'] },
    { name: 'not where it is cached or staging already', workers: [hb('w1', 24, { hostCache: cache(48, { a: 4 }) }), hb('w2', 24, { hostCache: cache(48, {}, ['a']) }), hb('w3', 24, { hostCache: cache(48, {}) })], arrivals: { a: often }, want: ['a@w3'] },
    { name: 'not on a worker that reports no host cache', workers: [hb('w1', 24), hb('w2', 24, { hostCache: cache(48, {}) })], arrivals: { a: often }, want: ['a@w2'] },
    { name: 'not where it is resident', workers: [hb('w1', 24, { resident: [res('a', 4)], hostCache: cache(48, {}) })], arrivals: { a: often }, want: [] },
    { name: 'not a model unlikely within the horizon', workers: [hb('w1', 24, { hostCache: cache(48, {}) })], arrivals: { a: rare }, want: [] },
    { name: 'not without arrival history', workers: [hb('w1', 24, { hostCache: cache(48, {}) })], arrivals: {}, want: [] },
    { name: 'not on a host whose GPUs cannot hold it', workers: [hb('w1', 16, { hostCache: cache(48, {}) })], arrivals: { big: often }, want: [] },
    { name: 'only what fits the budget together, the largest saving first', workers: [hb('w1', 24, { hostCache: cache(22, {}) })], arrivals: { a: often, big: often }, want: ['big@w1'] },
    { name: 'at most stageMaxPerDecision', workers: [hb('w1', 24, { hostCache: cache(48, {}) })], arrivals: { a: often, b: often, c: often }, policy: { stageMaxPerDecision: 2 }, want: ['a@w1', 'b@w1'] },
    { name: 'never with stageMaxPerDecision 0', workers: [hb('w1', 24, { hostCache: cache(48, {}) })], arrivals: { a: often }, policy: { stageMaxPerDecision: 0 }, want: [] },
    { name: 'not a model this decision loads (decide)', workers: [hb('w1', 24, { hostCache: cache(48, {}) })], arrivals: { a: often, b: often }, queues: { a: { waiting: 1, oldestWaitMs: 10 } }, want: ['b@w1'] },
  ];
  it.each(cases)('$name', ({ workers, arrivals, policy, queues, want }) => {
    const s = snap(workers, queues ?? {}, arrivals);
    const p = schedulerPolicy({ prewarmMaxLoads: 0, ...policy });
    const viaDecide = stages(decide(s, p));
    expect(viaDecide).toEqual(want);
    if (!queues) expect(stages(stageActions(s, p, new Set(), () => false))).toEqual(want);
  });

  it('a stage command sent counts as staging until the heartbeat shows it, so the next tick does not resend it', () => {
    const pending = new PendingCommands(30_000);
    const w = hb('w1', 24, { hostCache: cache(48, {}) });
    const s = snap([w], {}, { a: often });
    const policy = schedulerPolicy({ prewarmMaxLoads: 0 });
    expect(stages(decide(s, policy))).toEqual(['a@w1']);
    pending.note({ type: 'stage', model: 'a', worker: 'w1', at: NOW });
    expect(stages(decide(pending.overlay(s), policy))).toEqual([]);
    // The worker's heartbeat now lists it as cached: the entry settles.
    pending.overlay(snap([hb('w1', 24, { hostCache: cache(48, { a: 4 }) })], {}, { a: often }));
    expect(pending.size).toBe(0);
  });
});

describe('tier sweep report: why a scenario misses the goals', () => {
  const GIB = 2 ** 30;
  const met = { met: true, coldRatio: 0.4, ttftRatio: 1, allCachedRatio: 0.3, coldStarts: 500, coldFromCache: 450, coldFirst: 12, catalogBytes: 100 * GB, hostCacheBytes: 96 * GIB, fleetCacheBytes: 192 * GIB };
  const cases: { name: string; row: Partial<typeof met>; want: string }[] = [
    { name: 'nothing when both goals are met', row: {}, want: '' },
    { name: 'the TTFT ratio when only it misses', row: { met: false, ttftRatio: 1.1 }, want: 'TTFT p95 1.100x' },
    {
      name: 'out of reach when even every load from memory misses the cold-start goal',
      row: { met: false, coldRatio: 0.8, allCachedRatio: 0.6 },
      want: 'out of reach: every load from memory gives 0.600x; 450 of 500 cold starts from memory',
    },
    {
      name: 'few cold starts, a catalog larger than a host\'s page cache, and how many read from memory',
      row: { met: false, coldRatio: 1, coldStarts: 18, coldFromCache: 5, catalogBytes: 122 * GB, hostCacheBytes: 96 * GIB, fleetCacheBytes: 288 * GIB },
      want: "18 cold starts, 12 of them a model's first (no history to stage by): the p95 is one of the largest; catalog 122 GB > 103 GB page cache a host (309 GB the fleet's at most); 5 of 18 cold starts from memory",
    },
  ];
  it.each(cases)('$name', ({ row, want }) => {
    expect(whyMissed({ ...met, ...row })).toBe(want);
  });
});

describe('host tier protocol', () => {
  it('reads a load from the host tier only when most of the file is cached', () => {
    const r = { ...cache(8, {}), models: [{ model: 'a', fileBytes: 100, cachedBytes: 90 }, { model: 'b', fileBytes: 100, cachedBytes: 89 }] };
    expect([tierOf(r, 'a'), tierOf(r, 'b'), tierOf(r, 'c'), tierOf(undefined, 'a')]).toEqual(['host', 'disk', 'disk', 'disk']);
    expect(heartbeatSchema.safeParse(hb('w', 1, { hostCache: r })).success).toBe(true);
  });

  it('averages load speeds, newer loads weighing more, and skips loads that measured nothing', () => {
    const first = nextLoadSpeed(null, { engine: 'e', tier: 'disk', bytes: 2e9, ms: 1000, at: 1 })!;
    expect(first.bytesPerSec).toBe(2e9);
    const second = nextLoadSpeed(first, { engine: 'e', tier: 'disk', bytes: 4e9, ms: 1000, at: 2 })!;
    expect(second.bytesPerSec).toBeCloseTo(2e9 * 0.7 + 4e9 * 0.3);
    expect(second.samples).toBe(2);
    expect(nextLoadSpeed(second, { engine: 'e', tier: 'disk', bytes: 0, ms: 10, at: 3 })).toBe(second);
  });

  it('parses a stage command from the control stream', () => {
    expect(parseControlCommand(['command', JSON.stringify({ type: 'stage', model: 'a', requestId: 'r', at: 1 })])).toEqual({ type: 'stage', model: 'a', requestId: 'r', at: 1 });
  });
});

describe('page cache of real files', () => {
  let dir: string;
  let pc: PageCache;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fabric-host-cache-'));
    pc = (await openPageCache())!;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('measures a file dropped from the cache, stages it back and reports it within the budget', async () => {
    const file = join(dir, 'm.bin');
    writeFileSync(file, Buffer.alloc(32 * 2 ** 20, 1));
    expect(pc).not.toBeNull();
    pc.dontNeed(file);
    const hc = new HostCache({ pageCache: pc, budgetBytes: 64 * 2 ** 20, models: async () => ['m', 'gone'], files: async (m) => (m === 'm' ? [file] : []), log });
    expect(pc.residentBytes(file).cachedBytes).toBeLessThan(0.5 * 32 * 2 ** 20);
    expect((await hc.tierOf('m')).tier).toBe('disk');
    await hc.stage('m');
    expect(pc.residentBytes(file)).toEqual({ fileBytes: 32 * 2 ** 20, cachedBytes: 32 * 2 ** 20 });
    expect(await hc.tierOf('m')).toEqual({ tier: 'host', fileBytes: 32 * 2 ** 20 });
    const report = await hc.measure();
    expect(report.models).toEqual([{ model: 'm', fileBytes: 32 * 2 ** 20, cachedBytes: 32 * 2 ** 20 }]);
    expect(report.budgetBytes).toBe(64 * 2 ** 20);
  });

  it('stands staging reads aside while a load reads from disk, and finishes them once it ends', async () => {
    const file = join(dir, 'paused.bin');
    writeFileSync(file, Buffer.alloc(16 * 2 ** 20, 1));
    pc.dontNeed(file);
    const hc = new HostCache({ pageCache: pc, budgetBytes: 64 * 2 ** 20, models: async () => ['p'], files: async () => [file], log });
    let endLoad!: () => void;
    hc.yieldTo(new Promise<void>((resolve) => (endLoad = resolve)));
    let staged = false;
    const done = hc.stage('p').then(() => (staged = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(staged).toBe(false);
    expect((await hc.measure()).staging).toEqual(['p']);
    endLoad();
    await done;
    expect(await hc.tierOf('p')).toEqual({ tier: 'host', fileBytes: 16 * 2 ** 20 });
  });

  it('refuses to stage a model larger than the budget, or one without files', async () => {
    const file = join(dir, 'large.bin');
    writeFileSync(file, Buffer.alloc(4 * 2 ** 20, 1));
    const hc = new HostCache({ pageCache: pc, budgetBytes: 2 ** 20, models: async () => ['large'], files: async (m) => (m === 'large' ? [file] : []), log });
    await expect(hc.stage('large')).rejects.toThrow(/exceeds the host cache budget/);
    await expect(hc.stage('none')).rejects.toThrow(/no file/);
    // Over budget, the report keeps only what fits, most cached first.
    expect((await hc.measure()).models).toEqual([]);
  });
});

describe('a llama.cpp worker with the host tier (real Redis, real files)', () => {
  let f: TestFabric;
  let dir: string;
  let pc: PageCache;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fabric-tier-models-'));
    await ensureDemoModels(dir);
    pc = (await openPageCache())!;
    f = await startFabric();
    await f.addWorker(new LlamaCppEngine({ modelsDir: dir, threads: 1, contextSize: 512, slotsPerModel: 1 }, { logger: log }), { hostCacheBytes: 2 ** 30, hostCacheCheckMs: 100, heartbeatTtlMs: 30_000 });
  }, 60_000);
  afterAll(async () => {
    await f?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const heartbeat = async () => heartbeatSchema.parse(JSON.parse((await f.redis.get(f.keys.workerHeartbeat(f.workers[0]!.id)))!));
  const send = async (type: 'stage' | 'load', model: string) => {
    await sendControl(f.redis.pipeline(), f.keys, f.workers[0]!.id, { type, model, requestId: `${type}-${model}`, at: Date.now() }).exec();
  };

  it('stages a model on command and reports it in its heartbeat; a load records its speed per tier', async () => {
    // Reading the catalog read the small demo files: drop them, then the worker measures them out.
    pc.dontNeed(join(dir, 'demo-tiny.gguf'));
    const before = await waitFor(async () => {
      const h = await heartbeat();
      return tierOf(h.hostCache, 'demo-tiny:latest') === 'disk' ? h : undefined;
    }, 30_000);
    expect(before.hostCache?.budgetBytes).toBe(2 ** 30);
    await send('stage', 'demo-tiny:latest');
    const staged = await waitFor(async () => {
      const h = await heartbeat();
      return tierOf(h.hostCache, 'demo-tiny:latest') === 'host' ? h : undefined;
    }, 30_000);
    expect(staged.resident).toEqual([]);
    expect(staged.loading).toEqual([]);

    await send('load', 'demo-tiny:latest');
    await waitFor(async () => (await heartbeat()).resident.some((m) => m.model === 'demo-tiny:latest'), 30_000);
    const speeds = new LoadSpeedStore(f.redis, f.keys);
    const host = await waitFor(() => speeds.get('llama-cpp', 'host'), 30_000);
    expect(host.samples).toBe(1);
    expect(host.lastBytes).toBe(staged.hostCache!.models.find((m) => m.model === 'demo-tiny:latest')!.fileBytes);

    // A file dropped from the cache loads from disk.
    pc.dontNeed(join(dir, 'demo-chat.gguf'));
    await send('load', 'demo-chat:latest');
    const disk = await waitFor(() => speeds.get('llama-cpp', 'disk'), 30_000);
    expect(disk.bytesPerSec).toBeGreaterThan(0);

    const s = await readSnapshot(f.redis, f.keys, Date.now());
    expect(s.loadSpeeds?.get(loadSpeedKey('llama-cpp', 'host'))).toBe(host.bytesPerSec);
    expect(s.workers[0]!.hostCache?.models.length).toBeGreaterThan(0);
  }, 120_000);
});
