/**
 * Turns the phases' raw results into the derived numbers the issue asks for (fabric-added
 * latency, throughput vs bare BullMQ), checks them against the targets, and renders markdown.
 */
import type { BenchConfig } from './args.ts';
import type { Topology } from './fabric-harness.ts';
import type { LatencyPhaseResult } from './latency.ts';
import type { MachineInfo } from './machine.ts';
import type { ResourceUsage } from './resource-meter.ts';
import { fmt, round } from './stats.ts';
import { startupSection, type StartupResult } from './startup.ts';
import { toolCallSection, type ToolCallResult } from './tool-calls.ts';
import type { StreamingReport, StreamingResult } from './streaming.ts';
import type { ThroughputResult } from './throughput.ts';

export interface LatencyResults {
  engineDirect: LatencyPhaseResult;
  fabricSync: LatencyPhaseResult;
  rawBullmq: LatencyPhaseResult;
}

export interface Target {
  name: string;
  measured: number;
  unit: string;
  goal: string;
  met: boolean | null;
}

export interface Derived {
  fabricAddedP50Ms: number;
  fabricAddedP99Ms: number;
  bullmqAddedP50Ms: number;
  bullmqAddedP99Ms: number;
  fabricOverBullmqP50Ms: number;
  fabricOverBullmqP99Ms: number;
  bestFabric: ThroughputResult;
  /** Bare BullMQ (concurrent add(), lean options) at the best fabric run's concurrency. */
  rawAtSameConcurrency: ThroughputResult | undefined;
  fabricToRawRatio: number;
  lowRateFabricAddedP50Ms: number | null;
  lowRateFabricAddedP99Ms: number | null;
  /** Redis commands per job of the best fabric run over bare BullMQ's (lean options) at its concurrency. */
  commandsRatio: number;
  /** The same over bare BullMQ with the fabric's job options (retention, attempts, backoff). */
  commandsRatioFabricOptions: number;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  /** Where the fabric's worker ran: its own Node process (`split`) or the API's (`shared`). */
  topology: Topology;
  command: string;
  machine: MachineInfo;
  config: BenchConfig;
  latency: LatencyResults;
  /** The same phases at a rate where nothing is CPU-bound: the fabric's critical path alone. */
  lowRateLatency: LatencyResults | null;
  /** Best round of each throughput phase. */
  throughput: ThroughputResult[];
  throughputAllRounds: ThroughputResult[];
  /** Streaming through SSE and Ollama NDJSON against the engine direct; null when skipped. */
  streaming: StreamingReport | null;
  /** `npm start` to ready and to a first job, and its memory (null: skipped). */
  startup: StartupResult | null;
  /** The tool-call phase; null when skipped. */
  toolCalls?: ToolCallResult | null;
  derived: Derived;
  targets: Target[];
  /** Phases with errors or timeouts: their numbers are not trustworthy. */
  problems: string[];
}

export const RAW_ADD_LABEL = 'raw BullMQ add() (lean options)';
export const RAW_FABRIC_OPTIONS_LABEL = "raw BullMQ add() (fabric's job options)";

export function derive(
  latency: LatencyResults,
  lowRate: LatencyResults | null,
  throughput: ThroughputResult[],
  allRounds: ThroughputResult[],
  streaming: StreamingReport | null = null,
): { derived: Derived; targets: Target[]; problems: string[] } {
  const { engineDirect: a, fabricSync: b, rawBullmq: c } = latency;
  const fabricRuns = throughput.filter((t) => t.label === 'fabric POST /v1/jobs');
  const bestFabric = fabricRuns.reduce((best, t) => (t.jobsPerSec > best.jobsPerSec ? t : best));
  const rawAtSameConcurrency = throughput.find((t) => t.label === RAW_ADD_LABEL && t.concurrency === bestFabric.concurrency);
  const rawFabricOptions = throughput.find((t) => t.label === RAW_FABRIC_OPTIONS_LABEL && t.concurrency === bestFabric.concurrency);
  const derived: Derived = {
    fabricAddedP50Ms: b.latency.p50Ms - a.latency.p50Ms,
    fabricAddedP99Ms: b.latency.p99Ms - a.latency.p99Ms,
    bullmqAddedP50Ms: c.latency.p50Ms - a.latency.p50Ms,
    bullmqAddedP99Ms: c.latency.p99Ms - a.latency.p99Ms,
    fabricOverBullmqP50Ms: b.latency.p50Ms - c.latency.p50Ms,
    fabricOverBullmqP99Ms: b.latency.p99Ms - c.latency.p99Ms,
    bestFabric,
    rawAtSameConcurrency,
    fabricToRawRatio: rawAtSameConcurrency ? bestFabric.jobsPerSec / rawAtSameConcurrency.jobsPerSec : Number.NaN,
    lowRateFabricAddedP50Ms: lowRate ? lowRate.fabricSync.latency.p50Ms - lowRate.engineDirect.latency.p50Ms : null,
    lowRateFabricAddedP99Ms: lowRate ? lowRate.fabricSync.latency.p99Ms - lowRate.engineDirect.latency.p99Ms : null,
    commandsRatio: rawAtSameConcurrency ? bestFabric.resources.totalCommandsPerJob / rawAtSameConcurrency.resources.totalCommandsPerJob : Number.NaN,
    commandsRatioFabricOptions: rawFabricOptions ? bestFabric.resources.totalCommandsPerJob / rawFabricOptions.resources.totalCommandsPerJob : Number.NaN,
  };
  const targets: Target[] = [
    { name: `async throughput / bare BullMQ add() -> completed (worker concurrency ${bestFabric.concurrency})`, measured: derived.fabricToRawRatio, unit: 'x', goal: '>= 0.5x', met: derived.fabricToRawRatio >= 0.5 },
    { name: 'fabric-added sync latency p50 (b - a)', measured: derived.fabricAddedP50Ms, unit: 'ms', goal: '<= 1.5 ms', met: derived.fabricAddedP50Ms <= 1.5 },
    { name: 'fabric-added sync latency p99 (b - a)', measured: derived.fabricAddedP99Ms, unit: 'ms', goal: '<= 8 ms', met: derived.fabricAddedP99Ms <= 8 },
    { name: 'Redis commands per job / bare BullMQ (lean options)', measured: derived.commandsRatio, unit: 'x', goal: '<= 1.5x', met: derived.commandsRatio <= 1.5 },
    { name: "Redis commands per job / bare BullMQ (the fabric's job options)", measured: derived.commandsRatioFabricOptions, unit: 'x', goal: 'reported', met: null },
  ];
  if (derived.lowRateFabricAddedP50Ms !== null && derived.lowRateFabricAddedP99Ms !== null) {
    targets.push(
      { name: 'diagnostic: fabric-added sync p50 at the low rate', measured: derived.lowRateFabricAddedP50Ms, unit: 'ms', goal: '<= 1.5 ms', met: derived.lowRateFabricAddedP50Ms <= 1.5 },
      { name: 'diagnostic: fabric-added sync p99 at the low rate', measured: derived.lowRateFabricAddedP99Ms, unit: 'ms', goal: '<= 8 ms', met: derived.lowRateFabricAddedP99Ms <= 8 },
    );
  }
  const direct = streaming?.results.find((x) => x.path === 'direct');
  for (const x of streaming?.results ?? []) {
    if (x.path === 'direct' || !direct) continue;
    const ttft = x.ttft.p50Ms - direct.ttft.p50Ms;
    const between = x.lateness.p50Ms - direct.lateness.p50Ms;
    targets.push(
      { name: `streaming ${x.path}: added time to first token p50`, measured: ttft, unit: 'ms', goal: '<= 3 ms', met: ttft <= 3 },
      { name: `streaming ${x.path}: added delay between tokens p50`, measured: between, unit: 'ms', goal: '<= 1 ms', met: between <= 1 },
    );
  }
  // The API families' own streams against SSE on the job API: what their adapters add to the first token.
  const sse = streaming?.results.find((x) => x.path === 'sse');
  for (const x of streaming?.results ?? []) {
    if (!sse || (x.path !== 'responses' && x.path !== 'messages')) continue;
    targets.push(
      { name: `streaming ${x.path}: time to first token added over job SSE p50`, measured: x.ttft.p50Ms - sse.ttft.p50Ms, unit: 'ms', goal: '<= 1 ms', met: x.ttft.p50Ms - sse.ttft.p50Ms <= 1 },
      { name: `streaming ${x.path}: time to first token added over job SSE p95`, measured: x.ttft.p95Ms - sse.ttft.p95Ms, unit: 'ms', goal: 'reported', met: null },
    );
  }
  const problems: string[] = [];
  const phases = Object.entries(latency).concat(lowRate ? Object.entries(lowRate).map(([k, v]) => [`${k} (low rate)`, v]) : []);
  for (const [name, r] of phases as [string, LatencyPhaseResult][]) {
    if (r.errors > 0) problems.push(`${name}: ${r.errors} of ${r.offered} failed (first: ${r.firstError})`);
  }
  for (const t of allRounds) {
    if (t.errors > 0) problems.push(`${t.label} c=${t.concurrency}: ${t.errors} submissions failed (first: ${t.firstError})`);
    if (t.timedOut) problems.push(`${t.label} c=${t.concurrency}: not all jobs completed in time`);
  }
  return { derived, targets, problems };
}

const pct = (cpuSeconds: number, r: ResourceUsage) => `${fmt((100 * cpuSeconds) / r.wallSeconds, 0)}%`;
/** The worker process's share of "node CPU", or '-' where there is no separate worker process. */
const workerPct = (r: ResourceUsage, split: boolean) => (split ? pct(r.workerProcessCpuSeconds, r) : '-');
const msPerJob = (cpuSeconds: number, jobs: number) => fmt((1000 * cpuSeconds) / Math.max(1, jobs), 2);

function topCommands(r: ResourceUsage, n = 10): string {
  return Object.entries(r.commandsPerJob)
    .slice(0, n)
    .map(([cmd, v]) => `${cmd} ${fmt(v, 2)}`)
    .join(', ');
}

function latencyTable(l: LatencyResults, topology: Topology, row: (cells: (string | number)[]) => void): void {
  row(['phase', 'p50', 'p90', 'p99', 'max', 'mean', 'n', 'errors', 'send lag p99', 'main loop busy', 'node CPU', 'of which worker proc', 'node CPU ms/job', 'redis CPU', 'redis cmds/job']);
  row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']);
  const rows: [string, LatencyPhaseResult][] = [
    ['(a) engine direct', l.engineDirect],
    ['(b) fabric POST /v1/run', l.fabricSync],
    ['(c) raw BullMQ add -> completed', l.rawBullmq],
  ];
  for (const [name, x] of rows) {
    const s = x.latency;
    const res = x.resources;
    const split = topology === 'split' && x === l.fabricSync;
    row([name, fmt(s.p50Ms), fmt(s.p90Ms), fmt(s.p99Ms), fmt(s.maxMs), fmt(s.meanMs), s.count, x.errors, fmt(x.sendLag.p99Ms), `${fmt(100 * res.eventLoopUtilization, 0)}%`, pct(res.nodeCpuSeconds, res), workerPct(res, split), msPerJob(res.nodeCpuSeconds, x.offered), pct(res.redisCpuSeconds, res), fmt(res.totalCommandsPerJob, 1)]);
  }
}

export function renderMarkdown(r: BenchReport): string {
  const { config: cfg, machine: m, latency: l, derived: d } = r;
  const lines: string[] = [];
  const row = (cells: (string | number)[]) => lines.push(`| ${cells.join(' | ')} |`);
  const split = r.topology === 'split';
  lines.push(`# inference-fabric bench, ${r.topology} topology (${r.startedAt})`, '');
  lines.push(`- machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}`);
  lines.push(`- runtimes: Node ${m.node}, Redis ${m.redis} (private, no persistence), BullMQ ${m.bullmq}`);
  lines.push(`- command: \`${r.command}\``);
  lines.push(
    `- workload: chat, num_predict 4, FakeEngine zero latency; latency phases open-loop at ${cfg.ratePerSec}/s for ${cfg.durationSec} s after ${cfg.warmupSec} s warm-up, worker concurrency ${cfg.latencyConcurrency}; throughput ${cfg.jobs} jobs after ${cfg.warmupJobs} warm-up, ${cfg.clientConcurrency} concurrent clients`,
  );
  const client = cfg.clientMode === 'thread' ? 'the HTTP load generator in its own worker thread' : 'the HTTP load generator on the API\'s event loop';
  const where = split
    ? `- topology **split** (as deployed): the worker is \`worker/main.ts\` in a Node process of its own (FABRIC_ENGINE=fake, zero latency, FABRIC_SLOTS = the phase's worker concurrency); the API runs in the bench process (${client}); (d) counts \`succeeded\` on the events bus (one subscriber connection in the bench process)`
    : `- topology **shared**: API + worker share one Node process and event loop (${client}); (d) counts \`succeeded\` through the worker's onStatus hook`;
  lines.push(
    `${where}; BullMQ baselines and the engine run on the bench's main event loop; redis-server is a separate process; latency is measured from the scheduled send time${cfg.autoPipelining ? `; ioredis auto-pipelining ON for the fabric${split ? "'s API connection" : ''} (experiment)` : ''}`,
    '',
  );

  lines.push(`## Latency at ${cfg.ratePerSec}/s (ms)`, '');
  latencyTable(l, r.topology, row);
  lines.push('');
  lines.push(`- fabric-added (b - a): p50 ${fmt(d.fabricAddedP50Ms)} ms, p99 ${fmt(d.fabricAddedP99Ms)} ms`);
  lines.push(`- BullMQ-added (c - a): p50 ${fmt(d.bullmqAddedP50Ms)} ms, p99 ${fmt(d.bullmqAddedP99Ms)} ms`);
  lines.push(`- fabric over bare BullMQ (b - c): p50 ${fmt(d.fabricOverBullmqP50Ms)} ms, p99 ${fmt(d.fabricOverBullmqP99Ms)} ms`, '');
  if (r.lowRateLatency) {
    const lr = r.lowRateLatency;
    lines.push(`## Diagnostic: latency at ${cfg.lowRatePerSec}/s, ${cfg.lowRateDurationSec} s (ms): nothing is CPU-bound, so this is the length of each critical path; on this VM a hop that wakes an idle process costs more, so it can exceed the loaded numbers`, '');
    latencyTable(lr, r.topology, row);
    lines.push('');
    lines.push(`- fabric-added (b - a): p50 ${fmt(d.lowRateFabricAddedP50Ms ?? Number.NaN)} ms, p99 ${fmt(d.lowRateFabricAddedP99Ms ?? Number.NaN)} ms`);
    lines.push(`- BullMQ-added (c - a): p50 ${fmt(lr.rawBullmq.latency.p50Ms - lr.engineDirect.latency.p50Ms)} ms, p99 ${fmt(lr.rawBullmq.latency.p99Ms - lr.engineDirect.latency.p99Ms)} ms`, '');
  }

  lines.push(`## Async throughput (best of ${cfg.throughputRounds} round${cfg.throughputRounds > 1 ? 's' : ''})`, '');
  row(['phase', 'worker concurrency', 'jobs', 'seconds', 'jobs/s', 'all rounds jobs/s', 'submit/s', 'vs raw add() same conc.', 'main loop busy', 'node CPU', 'of which worker proc', 'node CPU ms/job', 'redis CPU', 'redis cmds/job']);
  row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']);
  for (const t of r.throughput) {
    const rounds = r.throughputAllRounds.filter((x) => x.label === t.label && x.concurrency === t.concurrency).map((x) => fmt(x.jobsPerSec, 0));
    const base = r.throughput.find((x) => x.label === RAW_ADD_LABEL && x.concurrency === t.concurrency);
    const ratio = base ? `${fmt(t.jobsPerSec / base.jobsPerSec, 2)}x` : 'n/a';
    const res = t.resources;
    row([t.label + (t.timedOut ? ' (TIMED OUT)' : ''), t.concurrency, t.jobs, fmt(t.seconds, 2), fmt(t.jobsPerSec, 0), rounds.join(' / '), fmt(t.submitJobsPerSec, 0), ratio, `${fmt(100 * res.eventLoopUtilization, 0)}%`, pct(res.nodeCpuSeconds, res), workerPct(res, split && t.label.startsWith('fabric')), msPerJob(res.nodeCpuSeconds, t.jobs), pct(res.redisCpuSeconds, res), fmt(res.totalCommandsPerJob, 1)]);
  }
  lines.push('');

  if (r.streaming) streamingSection(r.streaming, row, lines);
  if (r.startup) startupSection(r.startup, row, lines);
  if (r.toolCalls) toolCallSection(r.toolCalls, row, lines);

  lines.push('## Targets', '');
  row(['target', 'measured', 'goal', 'status']);
  row(['---', '---:', '---', '---']);
  for (const t of r.targets) {
    const measured = t.unit === 'x' ? `${fmt(t.measured, 2)}x` : t.unit === 'ms' ? `${fmt(t.measured)} ms` : `${fmt(t.measured, 0)} ${t.unit}`;
    row([t.name, measured, t.goal, t.met === null ? '-' : t.met ? 'met' : '**not met**']);
  }
  lines.push('');

  lines.push(
    split
      ? '"main loop busy" is the event-loop utilization of the bench process\'s main thread (the API in the fabric phases, the BullMQ baseline or the engine otherwise; the worker process\'s loop is not sampled); "node CPU" is the phase\'s Node processes together as % of one core: the bench process, all its threads (the HTTP client thread included), plus the worker process in the fabric phases ("of which worker proc", from /proc/<pid>/stat); "node CPU ms/job" divides that total by the jobs.'
      : '"main loop busy" is the event-loop utilization of the main thread (API + worker, or the BullMQ baseline); "node CPU" counts all of this process\'s threads (the HTTP client thread included) as % of one core.',
    '',
  );
  lines.push('## Redis commands per job (incl. commands run inside Lua scripts)', '');
  lines.push(`- (b) fabric /v1/run: ${topCommands(l.fabricSync.resources)}`);
  lines.push(`- (d) fabric /v1/jobs c=${d.bestFabric.concurrency}: ${topCommands(d.bestFabric.resources)}`);
  lines.push(`- (c) raw BullMQ: ${topCommands(l.rawBullmq.resources)}`);
  if (r.problems.length) lines.push('', '## Problems (numbers above are suspect)', '', ...r.problems.map((p) => `- ${p}`));
  lines.push('');
  return lines.join('\n');
}

function streamingSection(st: StreamingReport, row: (cells: (string | number)[]) => void, lines: string[]): void {
  const direct = st.results.find((x) => x.path === 'direct');
  const name: Record<StreamingResult['path'], string> = { direct: 'engine direct (onToken)', sse: 'fabric SSE (POST /v1/jobs + GET /v1/jobs/:id/events)', ollama: 'fabric Ollama NDJSON (POST /api/chat, stream)', responses: 'fabric Responses (POST /v1/responses, stream)', messages: 'fabric Messages (POST /v1/messages, stream)' };
  lines.push(`## Streaming (ms): FakeEngine at ${st.tokensPerSecond} tokens/s, ${st.tokensPerStream} tokens per stream, one stream at a time`, '');
  row(['path', 'streams', 'TTFT p50', 'TTFT p99', 'added TTFT p50', 'gap p50', 'gap p99', 'lateness p50', 'lateness p99', 'added between tokens p50', 'added between tokens p99']);
  row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']);
  for (const x of st.results) {
    const added = (a: number, b: number | undefined) => (x.path === 'direct' || b === undefined ? '-' : fmt(a - b));
    row([name[x.path], x.streams, fmt(x.ttft.p50Ms), fmt(x.ttft.p99Ms), added(x.ttft.p50Ms, direct?.ttft.p50Ms), fmt(x.gap.p50Ms), fmt(x.gap.p99Ms), fmt(x.lateness.p50Ms), fmt(x.lateness.p99Ms), added(x.lateness.p50Ms, direct?.lateness.p50Ms), added(x.lateness.p99Ms, direct?.lateness.p99Ms)]);
  }
  const sse = st.results.find((x) => x.path === 'sse');
  const families = st.results.filter((x) => x.path === 'responses' || x.path === 'messages');
  if (sse && families.length) {
    lines.push('', 'Time to first token added over SSE on the job API (POST /v1/jobs + GET /v1/jobs/:id/events):', '');
    row(['path', 'TTFT p50', 'TTFT p95', 'added p50', 'added p95']);
    row(['---', '---:', '---:', '---:', '---:']);
    for (const x of [sse, ...families]) row([name[x.path], fmt(x.ttft.p50Ms), fmt(x.ttft.p95Ms), x === sse ? '-' : fmt(x.ttft.p50Ms - sse.ttft.p50Ms), x === sse ? '-' : fmt(x.ttft.p95Ms - sse.ttft.p95Ms)]);
  }
  lines.push('', '"lateness" of token i: its arrival minus (the first token\'s + (i - 1) x the engine\'s token interval); a chunk carrying several tokens times each of them at its arrival.', '');
}

/** Rounds every number in the report for the JSON file. */
export function roundedJson(r: BenchReport): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' ? round(v) : v), 2) + '\n';
}
