import { describe, expect, it } from 'vitest';
import { simulate, type ClusterOptions } from '../sim/engine.ts';
import { generateModels, generateTrace, GENERATE_DEFAULTS } from '../sim/generate.ts';
import { parseFleet, uniformFleet } from '../sim/model/fleet.ts';
import { loadMs, serviceModel } from '../sim/model/service-model.ts';
import type { TraceRequest } from '../sim/model/trace.ts';
import { planFleet } from '../sim/policies/fleet-plan.ts';
import { scalingOraclePolicy } from '../sim/policies/scaling-oracle.ts';
import { homePool, workersFor } from '../sim/policies/working-set.ts';

const GiB = 2 ** 30;
const GB = 1e9;
const req = (id: number, arrivalMs: number, model: string, outputTokens = 10): TraceRequest => ({ id, arrivalMs, model, promptTokens: 100, outputTokens });

describe('workers a working set needs', () => {
  const fleet = parseFleet('1-8x24GiB,0-2x2x24GiB');
  it.each([
    { name: 'nothing live: each pool at its minimum', fps: [], want: { '24gib': 1, '2x24gib': 0 } },
    { name: 'two 12 GiB models share one 24 GiB worker', fps: [12 * GiB, 12 * GiB], want: { '24gib': 1, '2x24gib': 0 } },
    { name: 'first-fit decreasing: 16, 10, 8, 6 GiB take two workers', fps: [8 * GiB, 16 * GiB, 6 * GiB, 10 * GiB], want: { '24gib': 2, '2x24gib': 0 } },
    { name: 'a model above one GPU goes to the two-GPU pool', fps: [30 * GiB, 4 * GiB], want: { '24gib': 1, '2x24gib': 1 } },
    { name: 'clamped to the maximum', fps: Array.from({ length: 12 }, () => 20 * GiB), want: { '24gib': 8, '2x24gib': 0 } },
  ])('$name', ({ fps, want }) => {
    expect(Object.fromEntries(workersFor(fps, fleet))).toEqual(want);
  });

  it('packs fuller at a fill above 1 (fewer workers than the models take) and sends no model to a pool that cannot hold it', () => {
    const fps = [12 * GiB, 12 * GiB, 12 * GiB, 12 * GiB];
    expect(workersFor(fps, fleet).get('24gib')).toBe(2);
    expect(workersFor(fps, fleet, 2).get('24gib')).toBe(1);
    expect(homePool(fleet, 50 * GiB)).toBeUndefined();
    expect(Object.fromEntries(workersFor([50 * GiB], fleet))).toEqual({ '24gib': 1, '2x24gib': 0 });
  });
});

describe('the scaling oracle', () => {
  const service = serviceModel();
  const models = [{ name: 'a', sizeBytes: 15e9 }, { name: 'b', sizeBytes: 15e9 }, { name: 'c', sizeBytes: 15e9 }]; // 18 GB each: one per 24 GiB GPU
  const cluster: ClusterOptions = { fleet: uniformFleet(1, 24 * GiB, 3), tickMs: 2_000, stallLimitMs: 600_000 };

  it('plans a model live from its load before a request to the keep after it, and a pool its most in the next GPU start', () => {
    const trace = [req(0, 600_000, 'a'), req(1, 600_000, 'b')];
    const plan = planFleet(trace, models, cluster.fleet!, service, { keepMs: 60_000, fill: 1, leadMarginMs: 4_000, gridMs: 2_000 });
    const lead = loadMs(service, 15e9, false) + 4_000;
    expect(plan.isLive('a', 600_000 - lead + 2_000)).toBe(true);
    expect(plan.isLive('a', 600_000 - lead - 4_000)).toBe(false);
    expect(plan.isLive('a', 650_000)).toBe(true);
    expect(plan.isLive('a', 700_000)).toBe(false);
    // Two GPUs are bought a GPU start (60 s) before they are live, and none is kept past the keep.
    expect(plan.workers('default', 600_000 - lead - service.gpuStartMs + 2_000)).toBe(2);
    expect(plan.workers('default', 600_000 - lead - service.gpuStartMs - 10_000)).toBe(1);
    expect(plan.workers('default', 700_000)).toBe(1);
  });

  it('never leaves a request waiting on a GPU start when its keep covers it: the GPUs are bought ahead and the models loaded before their requests', () => {
    const trace = [req(0, 30_000, 'a'), req(1, 600_000, 'a'), req(2, 600_000, 'b'), req(3, 600_000, 'c'), req(4, 630_000, 'b')];
    const r = simulate(scalingOraclePolicy(trace, { keepMs: 60_000 }), trace, models, cluster, service);
    expect(r).toMatchObject({ completed: 5, rejected: 0, oom: 0, invalidActions: 0 });
    expect(r.warm).toBe(r.accepted);
    expect(r.ttftMs.at(-1)!).toBeLessThan(1_000);
    // Three GPUs for b and c's minute, one otherwise: well under three for the whole run.
    expect(r.gpuSeconds).toBeLessThan((1.5 * r.endMs) / 1000);
    expect(r.gpuSeconds).toBeGreaterThan(r.endMs / 1000);
  });

  it('loading on arrival, leaves each model cold until its request comes (no prefetch), on the same hindsight fleet', () => {
    const trace = [req(0, 30_000, 'a'), req(1, 600_000, 'a'), req(2, 600_000, 'b'), req(3, 600_000, 'c')];
    const r = simulate(scalingOraclePolicy(trace, { keepMs: 0, prefetch: false }), trace, models, cluster, service);
    expect(r.policy).toBe('scaling-oracle-on-arrival');
    // Only a's second request is warm: a stayed on the pool's minimum worker; b and c were loaded when asked for.
    expect(r).toMatchObject({ completed: 4, rejected: 0, oom: 0, invalidActions: 0, warm: 1 });
    // The three cold requests (after the warm one, ttftMs is ascending) wait for a load, never for a GPU start.
    expect(r.ttftMs[1]!).toBeGreaterThanOrEqual(loadMs(service, 15e9, true));
    expect(r.ttftMs.at(-1)!).toBeLessThan(service.gpuStartMs);
  });

  it('spends fewer GPU-seconds as the keep shrinks and as the fleet is packed fuller, on a generated trace', () => {
    const o = { ...GENERATE_DEFAULTS, seed: 4, durationMs: 40 * 60_000 };
    const gen = generateModels(o);
    const trace = generateTrace(gen, o);
    const fleet = { fleet: uniformFleet(2, 48 * GiB, 6), tickMs: 2_000, stallLimitMs: 600_000 };
    const run = (keepMs: number, fill = 1) => simulate(scalingOraclePolicy(trace, { keepMs, fill }), trace, gen, fleet, service);
    const [long, short, none, packed] = [run(10 * 60_000), run(60_000), run(0), run(0, 2)];
    for (const r of [long, short, none, packed]) expect(r).toMatchObject({ rejected: 0, oom: 0, invalidActions: 0 });
    expect(short.gpuSeconds).toBeLessThan(long.gpuSeconds);
    expect(none.gpuSeconds).toBeLessThan(short.gpuSeconds);
    expect(packed.gpuSeconds).toBeLessThan(none.gpuSeconds);
    // What the keep saves in GPU-seconds it pays in loads.
    expect(none.coldLoads).toBeGreaterThan(long.coldLoads);
  });
});
