/**
 * Human output of a simulator run: the comparison table, the goals checked against it,
 * and the report directory (report.md + chart.svg).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderChart } from './chart.ts';
import type { SimResult } from './engine.ts';
import { isBaseline } from './policies/index.ts';
import type { PolicySummary } from './summary.ts';

const ms = (x: number | null) => (x === null ? 'n/a' : x.toLocaleString('en-US'));

/** The markdown comparison table, one row per policy. */
export function markdownTable(rows: readonly PolicySummary[], results: readonly SimResult[] = []): string {
  const head = '| policy | requests | TTFT p50 (ms) | TTFT p95 (ms) | TTFT p99 (ms) | warm | cold loads | cold start p50 (ms) | cold start p95 (ms) | GPU-s | OOM | rejected |';
  const sep = '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const body = rows.map((r) => {
    const res = results.find((x) => x.policy === r.policy);
    const why = res && r.rejected > 0 ? ` (${reasons(res)})` : '';
    return `| ${r.policy} | ${r.requests} | ${ms(r.ttft_ms.p50)} | ${ms(r.ttft_ms.p95)} | ${ms(r.ttft_ms.p99)} | ${(r.warm_ratio * 100).toFixed(1)}% | ${r.cold_loads} | ${ms(r.cold_start_ms.p50)} | ${ms(r.cold_start_ms.p95)} | ${r.gpu_seconds.toLocaleString('en-US')} | ${r.oom} | ${r.rejected}${why} |`;
  });
  return [head, sep, ...body].join('\n');
}

function reasons(r: SimResult): string {
  return Object.entries(r.rejectedBy)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

export interface GoalCheck {
  readonly goal: string;
  readonly met: boolean;
  readonly detail: string;
}

/**
 * The goals for `fabric`. "Best baseline" is the best non-oracle baseline that caused
 * no OOM (a baseline whose failed loads drop requests has no meaningful latency to beat).
 */
export function checkGoals(rows: readonly PolicySummary[]): GoalCheck[] {
  const fabric = rows.find((r) => r.policy === 'fabric');
  const oracle = rows.find((r) => r.policy === 'oracle');
  const baselines = rows.filter((r) => isBaseline(r.policy) && r.oom === 0);
  if (!fabric) return [];
  const checks: GoalCheck[] = [];
  const p95s = baselines.filter((r) => r.ttft_ms.p95 !== null);
  const bestP95 = p95s.sort((a, b) => (a.ttft_ms.p95 as number) - (b.ttft_ms.p95 as number))[0];
  if (bestP95 && fabric.ttft_ms.p95 !== null) {
    const limit = (bestP95.ttft_ms.p95 as number) / 2;
    checks.push({ goal: 'p95 TTFT <= half of the best baseline', met: fabric.ttft_ms.p95 <= limit, detail: `${ms(fabric.ttft_ms.p95)} ms vs ${bestP95.policy} ${ms(bestP95.ttft_ms.p95)} ms (limit ${ms(Math.round(limit))})` });
  }
  checks.push({ goal: 'warm >= 97%', met: fabric.warm_ratio >= 0.97, detail: `${(fabric.warm_ratio * 100).toFixed(1)}%` });
  checks.push({ goal: 'zero OOM', met: fabric.oom === 0, detail: `${fabric.oom}` });
  const bestGpu = [...baselines].sort((a, b) => a.gpu_seconds - b.gpu_seconds)[0];
  if (bestGpu) {
    checks.push({ goal: 'GPU-seconds <= best baseline', met: fabric.gpu_seconds <= bestGpu.gpu_seconds, detail: `${fabric.gpu_seconds} vs ${bestGpu.policy} ${bestGpu.gpu_seconds}` });
  }
  if (oracle) {
    const limit = oracle.cold_loads * 1.25;
    checks.push({ goal: 'cold loads <= 1.25x oracle', met: fabric.cold_loads <= limit, detail: `${fabric.cold_loads} vs oracle ${oracle.cold_loads} (limit ${limit.toFixed(1)})` });
  }
  return checks;
}

export function goalsMarkdown(checks: readonly GoalCheck[]): string {
  if (checks.length === 0) return '';
  return ['| goal for `fabric` | met | detail |', '|---|---|---|', ...checks.map((c) => `| ${c.goal} | ${c.met ? 'yes' : '**no**'} | ${c.detail} |`)].join('\n');
}

export interface ReportInput {
  readonly rows: readonly PolicySummary[];
  readonly results: readonly SimResult[];
  /** How the run was made: the command line and the cluster/trace description. */
  readonly command: string;
  readonly setup: string;
}

/** Writes `report.md` and `chart.svg` into `dir` (created if missing); returns their paths. */
export function writeReport(dir: string, input: ReportInput): string[] {
  mkdirSync(dir, { recursive: true });
  const focus = input.results.find((r) => r.policy === 'fabric') ?? input.results[0];
  const svg = renderChart(input.rows, focus?.timeline ?? [], focus?.policy ?? '', focus?.endMs ?? 0);
  const md = [
    '# Scheduling simulator report',
    '',
    `Command: \`${input.command}\``,
    '',
    input.setup,
    '',
    markdownTable(input.rows, input.results),
    '',
    goalsMarkdown(checkGoals(input.rows)),
    '',
    '![p95 TTFT and GPU-seconds by policy; ready models per GPU over time](chart.svg)',
    '',
    'TTFT = arrival to first token (queue wait + load wait + prefill), completed requests only.',
    'Warm = the model was ready on some GPU when the request arrived. Rejected requests (reasons in',
    'brackets) have no TTFT. Service model and engine rules: sim/model/service-model.ts, sim/engine.ts.',
    '',
  ].join('\n');
  const paths = [join(dir, 'report.md'), join(dir, 'chart.svg')];
  writeFileSync(paths[0] as string, md);
  writeFileSync(paths[1] as string, svg);
  return paths;
}
