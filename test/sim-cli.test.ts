import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSimArgs, UsageError } from '../sim/cli.ts';
import { parseFleet, uniformFleet } from '../sim/model/fleet.ts';
import { POLICY_NAMES } from '../sim/policies/index.ts';
import type { PolicySummary } from '../sim/summary.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function files(): { trace: string; models: string } {
  const trace = join(dir, 'trace.csv');
  const models = join(dir, 'models.json');
  writeFileSync(trace, 'arrival_ms,model,prompt_tokens,output_tokens\n0,a,100,20\nbad line\n5000,b,50,20\n9000,a,10,5\n12000,huge,10,5\n');
  writeFileSync(models, JSON.stringify([{ name: 'a', size_bytes: 4e9 }, { name: 'b', size_bytes: 8e9 }, { name: 'huge', size_bytes: 90e9 }]));
  return { trace, models };
}

async function sim(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, ['sim/main.ts', ...args], { cwd: process.cwd(), timeout: 60_000 });
}

describe('npm run sim', () => {
  it('--json prints exactly the documented shape for every policy, and skipped lines go to stderr', async () => {
    const f = files();
    const { stdout, stderr } = await sim(['--trace', f.trace, '--models', f.models, '--gpus', '1', '--gpu-mem', '24GiB', '--json']);
    expect(stderr).toMatch(/trace\.csv:3:/);
    const out = JSON.parse(stdout) as { policies: Record<string, unknown>[] };
    expect(Object.keys(out)).toEqual(['policies']);
    expect(out.policies.map((p) => p.policy)).toEqual([...POLICY_NAMES]);
    for (const p of out.policies) {
      expect(Object.keys(p).sort()).toEqual(['cold_loads', 'cold_start_ms', 'gpu_seconds', 'oom', 'policy', 'rejected', 'requests', 'ttft_ms', 'warm_ratio']);
      expect(Object.keys(p.ttft_ms as object).sort()).toEqual(['p50', 'p95', 'p99']);
      expect(Object.keys(p.cold_start_ms as object).sort()).toEqual(['p50', 'p95']);
      expect(p).toMatchObject({ requests: 4, rejected: 1 });
      expect(typeof p.warm_ratio).toBe('number');
    }
  });

  it('--fleet runs every policy on the same mixed fleet: a zero-output row is served and a model larger than one GPU fits a two-GPU worker', async () => {
    const f = files();
    writeFileSync(f.trace, readFileSync(f.trace, 'utf8') + '15000,a,200,0\n');
    const { stdout, stderr } = await sim(['--trace', f.trace, '--models', f.models, '--fleet', '1x24GiB,1x2x80GiB', '--json']);
    expect(stderr).not.toMatch(/trace\.csv:7:/);
    const out = JSON.parse(stdout) as { policies: { policy: string; requests: number; rejected: number; oom: number }[] };
    expect(out.policies).toHaveLength(POLICY_NAMES.length);
    for (const p of out.policies) expect(p, p.policy).toMatchObject({ requests: 5, rejected: 0, oom: 0 });
  });

  it('--report writes report.md and an SVG chart', async () => {
    const f = files();
    const out = join(dir, 'report');
    const { stdout } = await sim(['--trace', f.trace, '--models', f.models, '--policies', 'fabric,oracle', '--report', out]);
    expect(stdout).toMatch(/\| fabric \|/);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/\| oracle \|/);
    expect(readFileSync(join(out, 'chart.svg'), 'utf8')).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<\/svg>\n$/);
  });
});

describe('simulator flags', () => {
  it('defaults to a generated trace on a fixed pool of 2 GPUs running every policy', () => {
    expect(parseSimArgs([])).toMatchObject({ gpus: 2, maxGpus: 2, gpuMemBytes: 48 * 2 ** 30, seed: 1, json: false, policies: [...POLICY_NAMES] });
  });

  it('reads --fleet as worker classes (counts, autoscaled ranges, GPUs per worker) and refuses it mixed with --gpus', () => {
    expect(parseSimArgs(['--fleet', '2x24GiB,1-4x80GiB,1x2x80GiB']).fleet).toEqual([
      { pool: '24gib', count: 2, min: 2, max: 2, gpusPerWorker: 1, gpuMemBytes: 24 * 2 ** 30 },
      { pool: '80gib', count: 1, min: 1, max: 4, gpusPerWorker: 1, gpuMemBytes: 80 * 2 ** 30 },
      { pool: '2x80gib', count: 1, min: 1, max: 1, gpusPerWorker: 2, gpuMemBytes: 80 * 2 ** 30 },
    ]);
    expect(() => parseSimArgs(['--fleet', '2x24GiB', '--gpus', '2'])).toThrow(/--fleet replaces/);
    expect(() => parseSimArgs(['--fleet', '4-2x24GiB'])).toThrow(/maximum/);
    expect(() => parseSimArgs(['--fleet', 'two GPUs'])).toThrow(/COUNTxSIZE/);
  });

  it('reads the cost knob and the daily cycle, and refuses them out of range', () => {
    expect(parseSimArgs(['--cost-weight', '250', '--daily-amplitude', '0.5'])).toMatchObject({ costWeight: 250, dailyAmplitude: 0.5 });
    expect(parseSimArgs(['--target-p95-ms', '3000', '--frontier'])).toMatchObject({ targetP95Ms: 3000, frontier: true });
    expect(parseSimArgs([])).toMatchObject({ frontier: false });
    expect(parseSimArgs([]).targetP95Ms).toBeUndefined();
    expect(() => parseSimArgs(['--target-p95-ms', '-5'])).toThrow(/--target-p95-ms/);
    expect(() => parseSimArgs(['--cost-weight', '-1'])).toThrow(/--cost-weight/);
    expect(() => parseSimArgs(['--daily-amplitude', '1'])).toThrow(/--daily-amplitude/);
  });

  it('refuses unknown policies, a trace without models and a ceiling under the pool', () => {
    expect(() => parseSimArgs(['--policies', 'fabric,lru'])).toThrow(UsageError);
    expect(() => parseSimArgs(['--trace', 'x.csv'])).toThrow(/--models/);
    expect(() => parseSimArgs(['--gpus', '3', '--max-gpus', '2'])).toThrow(/max-gpus/);
    expect(() => parseSimArgs(['--gpu-mem', 'big'])).toThrow(/gpu-mem/);
  });
});

describe('npm run sim:sweep', () => {
  it('runs a scenario through every policy and a floor with every model resident', async () => {
    const { runScenario, sweepMarkdown, sweepScenarios } = await import('../sim/sweep.ts');
    expect(sweepScenarios().length).toBeGreaterThanOrEqual(10);
    // 20 minutes of the default generator on one 24 GiB GPU: models must be swapped, so the floor is below.
    const row = runScenario({ name: 'small', generate: { seed: 3, durationMs: 20 * 60_000 }, fleet: uniformFleet(1, 24 * 2 ** 30, 1) });
    expect(row.fabric.policy).toBe('fabric');
    expect(row.fabric.requests).toBe(row.requests);
    expect(row.best?.policy).not.toMatch(/^(fabric|oracle)$/);
    expect(row.oracle?.policy).toBe('oracle');
    expect(row.goals).toBe(5);
    expect(row.floorP95).not.toBeNull();
    expect(row.floorP95!).toBeLessThan(row.fabric.ttft_ms.p95!);
    const md = sweepMarkdown([row]).split('\n');
    expect(md).toHaveLength(3);
    expect(md[2]).toMatch(/^\| small \| \d+ \| [\d,]+ \| [\d,]+ \(/);
  });

  it('runs the scaling oracle at each of its settings, ahead of requests and on arrival, on an autoscaled scenario only', async () => {
    const { runScenario, sweepMarkdown } = await import('../sim/sweep.ts');
    const { SCALING_ORACLE_SETTINGS } = await import('../sim/policies/scaling-oracle.ts');
    const row = runScenario({ name: 'auto', generate: { seed: 2, durationMs: 15 * 60_000 }, fleet: uniformFleet(1, 48 * 2 ** 30, 3) });
    const kinds = (row.frontier?.oracle ?? []).map((p) => p.policy);
    expect(kinds.filter((k) => k === 'scaling-oracle')).toHaveLength(SCALING_ORACLE_SETTINGS.length);
    expect(kinds.filter((k) => k === 'scaling-oracle-on-arrival')).toHaveLength(SCALING_ORACLE_SETTINGS.length);
    // Its column: the cheapest point at seed-gateway's p95 of each kind, or "none".
    expect(sweepMarkdown([row]).split('\n')[2]).toMatch(/\| (none|\d\.\d\d) \/ (none|\d\.\d\d) \|/);
    const fixed = runScenario({ name: 'fixed', generate: { seed: 2, durationMs: 10 * 60_000 }, fleet: uniformFleet(1, 48 * 2 ** 30, 1) });
    expect(fixed.frontier).toBeUndefined();
  });

  it('checks the scaling goals per kind of fleet and prints a ratio just over a limit as over it', async () => {
    const { sweepGoalsMarkdown } = await import('../sim/sweep-goals.ts');
    const sum = (policy: string, p95: number, gpu_seconds: number, o: Partial<PolicySummary> = {}): PolicySummary => ({
      policy, requests: 10, ttft_ms: { p50: 1, p95, p99: p95 }, warm_ratio: 0.9, cold_loads: 10, cold_start_ms: { p50: null, p95: null }, gpu_seconds, oom: 0, rejected: 0, ...o,
    });
    const GiB = 2 ** 30;
    const rows = [
      { scenario: 'auto met', fleet: uniformFleet(2, 48 * GiB, 4), fabric: sum('fabric', 1000, 74), best: sum('seed-gateway', 1000, 100), oracle: sum('oracle', 1, 1), seedGateway: sum('seed-gateway', 1000, 100) },
      { scenario: 'auto over', fleet: uniformFleet(2, 48 * GiB, 4), fabric: sum('fabric', 900, 75.3), best: sum('seed-gateway', 1000, 100), oracle: sum('oracle', 1, 1), seedGateway: sum('seed-gateway', 1000, 100) },
      { scenario: 'fixed a', fleet: uniformFleet(2, 48 * GiB, 2), fabric: sum('fabric', 800, 1), best: sum('lru-affinity', 1000, 1), oracle: sum('oracle', 1, 1, { cold_loads: 8 }), seedGateway: undefined },
      { scenario: 'fixed b', fleet: uniformFleet(2, 48 * GiB, 2), fabric: sum('fabric', 500, 1, { warm_ratio: 0.5 }), best: sum('lru-affinity', 1000, 1), oracle: sum('oracle', 1, 1, { cold_loads: 7 }), seedGateway: undefined },
      { scenario: 'mixed', fleet: parseFleet('2x24GiB,2x80GiB'), fabric: sum('fabric', 1100, 1), best: sum('seed-gateway', 1000, 1), oracle: undefined, seedGateway: undefined },
    ];
    const md = sweepGoalsMarkdown(rows);
    expect(md).toContain('met in 1 of 2.');
    expect(md).toContain('auto over: GPU-s 0.753x, p95 0.900x (not met)');
    expect(md).toContain('Fixed pools (2): p95 / best baseline\'s, geometric mean 0.632 (goal <= 0.8); warm share >= the best baseline\'s in 1 of 2; cold loads <= 1.25x the oracle\'s in 1 of 2.');
    expect(md).toContain('mixed: rejected 0, OOM 0, p95 1.100x seed-gateway\'s (not met)');
    // Long tails are counted apart, with what the latency target reaches on the same trace.
    const point = (label: string, targetP95Ms: number | null, p95: number, gpuSeconds: number, policy = 'fabric') => ({ label, targetP95Ms, p95, gpuSeconds, policy });
    const frontier = { fabric: [point('cost knob (no target)', null, 1200, 70), point('target 1,000 ms', 1000, 950, 72)], seedGateway: point('seed-gateway', null, 1000, 100, 'seed-gateway') };
    const tail = { scenario: 'tail', fleet: uniformFleet(2, 24 * GiB, 8), fabric: sum('fabric', 1200, 70), best: sum('seed-gateway', 1000, 100), oracle: undefined, seedGateway: sum('seed-gateway', 1000, 100), longTail: true, frontier };
    const withTail = sweepGoalsMarkdown([...rows, tail]);
    expect(withTail).toContain('Autoscaling on long tails (every one), GPU-seconds <= 0.75x seed-gateway\'s at a p95 no worse than its own, defaults: met in 0 of 1.');
    expect(withTail).toContain('tail: GPU-s 0.700x, p95 1.200x (not met); frontier: target 1,000 ms reaches its p95 at 0.720x GPU-s (goal met at that target)');
    // Whether one setting would do for every autoscaled scenario that ran the frontier.
    expect(withTail).toContain("- One fabric setting for every autoscaled scenario (the frontier's), goal met in: cost knob (no target) 0 of 1, target 1,000 ms 1 of 1.");
  });

  it('measures the frontier of the latency target and scale to zero on a low-rate trace', async () => {
    const { frontier, frontierMarkdown, frontierSvg, scaleToZero } = await import('../sim/frontier.ts');
    const { generateModels, generateTrace, GENERATE_DEFAULTS } = await import('../sim/generate.ts');
    const { serviceModel } = await import('../sim/model/service-model.ts');
    const o = { ...GENERATE_DEFAULTS, seed: 2, durationMs: 20 * 60_000 };
    const models = generateModels(o);
    const trace = generateTrace(models, o);
    const f = frontier(trace, models, { fleet: uniformFleet(1, 48 * 2 ** 30, 3), tickMs: 2_000, stallLimitMs: 600_000 }, serviceModel(), [1_000, 30_000]);
    expect(f.fabric.map((p) => p.targetP95Ms)).toEqual([null, 1_000, 30_000]);
    expect(f.seedGateway.policy).toBe('seed-gateway');
    // A looser target never buys more GPU time than a tighter one.
    expect(f.fabric[2]!.gpuSeconds).toBeLessThanOrEqual(f.fabric[1]!.gpuSeconds);
    expect(frontierMarkdown(f).split('\n')).toHaveLength(6);
    expect(frontierSvg(f, 't')).toMatch(/^<svg[\s\S]*seed-gateway[\s\S]*<\/svg>\n$/);
    const zero = scaleToZero(serviceModel());
    const [min0, min1] = zero.rows.map((r) => r.summary);
    expect(min0!.rejected).toBe(0);
    expect(min0!.gpu_seconds).toBeLessThan(min1!.gpu_seconds);
    // At 0 the first job of an idle spell waits for a GPU to start (60 s).
    expect(min0!.ttft_ms.p95!).toBeGreaterThan(serviceModel().gpuStartMs);
  });
});
