import { describe, expect, it } from 'vitest';
import { gpuSecondsFloor } from '../sim/gpu-floor.ts';
import { parseFleet, uniformFleet } from '../sim/model/fleet.ts';
import { serviceModel } from '../sim/model/service-model.ts';
import type { TraceRequest } from '../sim/model/trace.ts';
import { whyMissed } from '../sim/sweep-goals.ts';
import type { PolicySummary } from '../sim/summary.ts';

const GiB = 2 ** 30;
// Footprint = size; a 1 GB model prefills 14,400 tokens/s and decodes 600 tokens/s on the default GPU.
const service = serviceModel({ footprintFactor: 1 });
const req = (id: number, arrivalMs: number, model: string): TraceRequest => ({ id, arrivalMs, model, promptTokens: 14_400, outputTokens: 601 });

describe('the GPU-seconds floor of a trace and fleet', () => {
  it('is the larger of the minimum pool and the work at its share of a replica', () => {
    const models = [{ name: 'a', sizeBytes: 1e9 }, { name: 'huge', sizeBytes: 100e9 }];
    // 1 s of prefill and 1 s of decode each; the 100 GB model fits no worker and is not counted.
    const trace = [req(0, 0, 'a'), req(1, 1_000, 'a'), req(2, 3_600_000, 'a'), req(3, 10, 'huge')];
    const f = gpuSecondsFloor(trace, models, uniformFleet(2, 24 * GiB, 4), service);
    expect(f.minPoolGpuSeconds).toBeCloseTo(3_600, 6); // min 1 GPU until the last arrival
    expect(f.workGpuSeconds).toBeCloseTo((3 * 2 * 1e9) / (4 * 24 * GiB), 9);
    expect(f.floorGpuSeconds).toBe(f.minPoolGpuSeconds);
    // At min 0 the work alone is the floor.
    const zero = gpuSecondsFloor(trace, models, parseFleet('0-2x24GiB'), service);
    expect(zero.minPoolGpuSeconds).toBe(0);
    expect(zero.floorGpuSeconds).toBe(zero.workGpuSeconds);
  });

  it('counts a model larger than one GPU at its share of the worker that holds it, on the largest GPUs that can', () => {
    const models = [{ name: 'big', sizeBytes: 30e9 }];
    const trace = [req(0, 0, 'big')];
    const serviceS = (14_400 / ((160e12 * 0.3) / (2 * (30e9 / 0.6))) + 600 / ((1e12 * 0.6) / 30e9));
    // Only the two-GPU 24 GiB workers hold 30 GB: 30e9 bytes of 2 x 24 GiB, on 2 GPUs, per slot.
    const split = gpuSecondsFloor(trace, models, parseFleet('1-4x24GiB,0-2x2x24GiB'), service);
    expect(split.workGpuSeconds).toBeCloseTo((serviceS * 30e9) / (4 * 24 * GiB), 9);
    expect(split.minPoolGpuSeconds).toBe(0); // the last arrival is at 0
    // Beside an 80 GiB class the share is of the larger GPU.
    const roomy = gpuSecondsFloor(trace, models, parseFleet('1-4x24GiB,0-2x2x24GiB,1-2x80GiB'), service);
    expect(roomy.workGpuSeconds).toBeCloseTo((serviceS * 30e9) / (4 * 80 * GiB), 9);
  });
});

describe('why an autoscaled scenario misses the cost goal', () => {
  const sum = (policy: string, p95: number, gpu_seconds: number): PolicySummary => ({
    policy, requests: 10, ttft_ms: { p50: 1, p95, p99: p95 }, warm_ratio: 0.9, cold_loads: 10, cold_start_ms: { p50: null, p95: null }, gpu_seconds, oom: 0, rejected: 0,
  });
  const point = (label: string, targetP95Ms: number | null, p95: number, gpuSeconds: number, policy = 'fabric') => ({ label, targetP95Ms, p95, gpuSeconds, policy });
  const base = {
    scenario: 's',
    fleet: uniformFleet(4, 24 * GiB, 8),
    fabric: sum('fabric', 1_500, 60),
    best: sum('seed-gateway', 1_000, 100),
    seedGateway: sum('seed-gateway', 1_000, 100),
    frontier: { fabric: [point('cost knob (no target)', null, 1_500, 60), point('target 1,000 ms', 1_000, 990, 98)], seedGateway: point('seed-gateway', null, 1_000, 100, 'seed-gateway') },
  };

  it('names the floor, the cheapest setting at the baseline p95 and the oracle on the starting pool', () => {
    const why = whyMissed({ ...base, oracle: sum('oracle', 1_200, 50), gpuFloor: { minPoolGpuSeconds: 20, workGpuSeconds: 12, floorGpuSeconds: 20 } });
    expect(why).toBe(
      "GPU-s floor 0.200x (minimum pool 0.200x, work 0.120x), so 0.75x is not ruled out by the trace and fleet; the cheapest setting at seed-gateway's p95 (target 1,000 ms) costs 0.980x; the oracle fixed at the starting 4 GPUs: GPU-s 0.500x at p95 1.200x (misses too)",
    );
  });

  it('says when the floor itself is above the goal and when the oracle meets it', () => {
    const why = whyMissed({ ...base, oracle: sum('oracle', 900, 50), gpuFloor: { minPoolGpuSeconds: 80, workGpuSeconds: 10, floorGpuSeconds: 80 } });
    expect(why).toContain('GPU-s floor 0.800x (minimum pool 0.800x, work 0.100x), above 0.75x: out of reach for any policy on this trace and fleet');
    expect(why).toContain('GPU-s 0.500x at p95 0.900x (meets the goal, so a placement policy can)');
  });

  it('names what the scaling oracle reaches, ahead of requests and on arrival, in place of the fixed-size oracle when its points ran', () => {
    const ahead = [point('keep 60 s, fill 1', null, 900, 90, 'scaling-oracle'), point('keep 0 s, fill 1', null, 980, 70, 'scaling-oracle'), point('keep 0 s, fill 2', null, 3_000, 40, 'scaling-oracle')];
    const onArrival = [point('keep 60 s, fill 1', null, 990, 95, 'scaling-oracle-on-arrival'), point('keep 0 s, fill 1', null, 1_400, 72, 'scaling-oracle-on-arrival')];
    const why = (oracle: typeof ahead) => whyMissed({ ...base, oracle: sum('oracle', 1_200, 50), frontier: { ...base.frontier, oracle } });
    const onlyAhead = why([...ahead, ...onArrival]);
    expect(onlyAhead).toContain(
      "the scaling oracle meets it only loading models ahead of their requests (keep 0 s, fill 1: GPU-s 0.700x at p95 0.980x); loading on arrival, as the fabric must, it misses (cheapest at seed-gateway's p95 keep 60 s, fill 1: GPU-s 0.950x at p95 0.990x, best p95 within 0.75x keep 0 s, fill 1: GPU-s 0.720x at p95 1.400x)",
    );
    expect(onlyAhead).not.toContain('fixed at the starting');
    const cheapOnArrival = onArrival.map((p) => (p.label === 'keep 60 s, fill 1' ? { ...p, gpuSeconds: 74 } : p));
    expect(why([...ahead, ...cheapOnArrival])).toContain('the scaling oracle meets it even loading on arrival (keep 60 s, fill 1: GPU-s 0.740x at p95 0.990x)');
    const dear = ahead.map((p) => (p.label === 'keep 0 s, fill 1' ? { ...p, gpuSeconds: 80 } : p));
    expect(why([...dear, ...onArrival])).toContain("the scaling oracle misses too (ahead of requests: cheapest at seed-gateway's p95 keep 0 s, fill 1: GPU-s 0.800x at p95 0.980x, best p95 within 0.75x keep 0 s, fill 2: GPU-s 0.400x at p95 3.000x; on arrival:");
  });
});
