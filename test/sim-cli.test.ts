import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSimArgs, UsageError } from '../sim/cli.js';
import { POLICY_NAMES } from '../sim/policies/index.js';

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
  return run(process.execPath, ['--import', 'tsx', 'sim/main.ts', ...args], { cwd: process.cwd(), timeout: 60_000 });
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
      expect(Object.keys(p).sort()).toEqual(['cold_loads', 'gpu_seconds', 'oom', 'policy', 'rejected', 'requests', 'ttft_ms', 'warm_ratio']);
      expect(Object.keys(p.ttft_ms as object).sort()).toEqual(['p50', 'p95', 'p99']);
      expect(p).toMatchObject({ requests: 4, rejected: 1 });
      expect(typeof p.warm_ratio).toBe('number');
    }
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

  it('refuses unknown policies, a trace without models and a ceiling under the pool', () => {
    expect(() => parseSimArgs(['--policies', 'fabric,lru'])).toThrow(UsageError);
    expect(() => parseSimArgs(['--trace', 'x.csv'])).toThrow(/--models/);
    expect(() => parseSimArgs(['--gpus', '3', '--max-gpus', '2'])).toThrow(/max-gpus/);
    expect(() => parseSimArgs(['--gpu-mem', 'big'])).toThrow(/gpu-mem/);
  });
});

describe('npm run sim:sweep', () => {
  it('runs a scenario through every policy and a floor with every model resident', async () => {
    const { runScenario, sweepMarkdown, sweepScenarios } = await import('../sim/sweep.js');
    expect(sweepScenarios().length).toBeGreaterThanOrEqual(10);
    // 20 minutes of the default generator on one 24 GiB GPU: models must be swapped, so the floor is below.
    const row = runScenario({ name: 'small', generate: { seed: 3, durationMs: 20 * 60_000 }, cluster: { gpus: 1, gpuMemBytes: 24 * 2 ** 30, maxGpus: 1 } });
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
});
