/** The bench's command-line flags, with defaults (and the `--quick` smoke sizes) in one place. */
import { parseArgs } from 'node:util';
import { TOPOLOGIES, type Topology } from './fabric-harness.ts';
import type { ClientMode } from './load-client.ts';

export interface BenchConfig {
  quick: boolean;
  /** Where the fabric's worker runs: its own Node process (`split`, as deployed) or the API's. */
  topology: Topology;
  /** Fixed rate of the three latency phases. */
  ratePerSec: number;
  /** Measured seconds per latency phase, after `warmupSec` at the same rate. */
  durationSec: number;
  warmupSec: number;
  /** Rate of a second, diagnostic pass of the latency phases where nothing is CPU-bound (0: skip). */
  lowRatePerSec: number;
  lowRateDurationSec: number;
  /** Jobs per throughput phase, after `warmupJobs`. */
  jobs: number;
  warmupJobs: number;
  clientConcurrency: number;
  /** Worker concurrency (= FakeEngine slotsPerModel) of the latency phases. */
  latencyConcurrency: number;
  /** Worker concurrencies tried in the throughput phases; the best fabric one is reported. */
  throughputConcurrency: number[];
  /** Rounds of every throughput phase; the best of each is reported (noise only slows runs). */
  throughputRounds: number;
  /** Where the HTTP load generator runs: its own worker thread, or the fabric's event loop. */
  clientMode: ClientMode;
  /** ioredis enableAutoPipelining on the fabric's connections (an experiment). */
  autoPipelining: boolean;
  /** FABRIC_API_PROCESSES values of the extra throughput phase with the API as its own process(es) (empty: skip). */
  apiProcesses: number[];
  /** Streams per path in the streaming phase (0: skip it). */
  streams: number;
  streamTps: number;
  streamTokens: number;
  /** Measured runs of `npm start` in the start-up phase (0: skip it). */
  startupRuns: number;
  /** Jobs of each kind in the tool-call phase (0: skip it). */
  toolJobs: number;
  /** Most tokens a job of the tool-call phase may generate. */
  toolMaxTokens: number;
}

export const USAGE = `usage: node bench/run.ts [flags]
  --quick                  ~20 s smoke run (short phases, fewer jobs, one concurrency)
  --topology split|shared  split (default, as deployed): the worker is worker/main.ts in a Node
                           process of its own; shared: API and worker on one event loop
  --rate N                 fixed rate of the latency phases, per second (default 200)
  --duration-s N           measured seconds per latency phase (default 15; quick 2)
  --warmup-s N             warm-up seconds before each latency phase (default 3; quick 0.5)
  --low-rate N             diagnostic second pass of the latency phases at N/s, 0 to skip (default 25)
  --low-rate-duration-s N  measured seconds per low-rate phase (default 10; quick 1.5)
  --jobs N                 jobs per throughput phase (default 6000; quick 1000)
  --warmup-jobs N          warm-up jobs before each throughput phase (default jobs/10, max 1000)
  --client-concurrency N   concurrent HTTP requests / add() calls in throughput phases (default 64)
  --latency-concurrency N  worker concurrency in the latency phases (default 16)
  --concurrency A,B        worker concurrencies tried for throughput (default 16,32; quick 16)
  --rounds N               rounds of the throughput phases, best reported (default 2; quick 1)
  --client thread|inline   HTTP load generator in its own worker thread (default) or on the
                           fabric's event loop
  --api-processes A,B      extra throughput phases with the API as its own process(es),
                           FABRIC_API_PROCESSES = each value (default 1,2; quick none; 0 skips)
  --streams N              streaming phase: streams per path, one at a time (default 30; quick 5; 0 skips)
  --stream-tps N           FakeEngine tokens per second in the streaming phase (default 50)
  --stream-tokens N        tokens per stream (default 20)
  --startup-runs N         start-up phase: measured runs of \`npm start\` (default 3; quick 1; 0 skips)
  --tool-jobs N            tool-call phase: jobs of each kind on the llama.cpp demo model
                           (default 20; quick 5; 0 skips)
  --tool-max-tokens N      most tokens per job in the tool-call phase (default 120)
  --auto-pipelining        experiment: ioredis enableAutoPipelining on the fabric's connections
                           (split: the API's only; the worker process takes no such setting)
`;

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

export function parseBenchArgs(argv: string[]): BenchConfig | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      topology: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
      rate: { type: 'string' },
      'duration-s': { type: 'string' },
      'warmup-s': { type: 'string' },
      'low-rate': { type: 'string' },
      'low-rate-duration-s': { type: 'string' },
      jobs: { type: 'string' },
      'warmup-jobs': { type: 'string' },
      'client-concurrency': { type: 'string' },
      'latency-concurrency': { type: 'string' },
      concurrency: { type: 'string' },
      client: { type: 'string' },
      rounds: { type: 'string' },
      'auto-pipelining': { type: 'boolean', default: false },
      streams: { type: 'string' },
      'api-processes': { type: 'string' },
      'stream-tps': { type: 'string' },
      'stream-tokens': { type: 'string' },
      'startup-runs': { type: 'string' },
      'tool-jobs': { type: 'string' },
      'tool-max-tokens': { type: 'string' },
    },
  });
  if (values.help) return 'help';
  const clientMode = values.client ?? 'thread';
  if (clientMode !== 'thread' && clientMode !== 'inline') throw new Error(`--client must be thread or inline, got ${JSON.stringify(clientMode)}`);
  const topology = values.topology ?? 'split';
  if (!(TOPOLOGIES as readonly string[]).includes(topology)) throw new Error(`--topology must be ${TOPOLOGIES.join(' or ')}, got ${JSON.stringify(topology)}`);
  const quick = values.quick ?? false;
  const jobs = Math.round(positive('jobs', values.jobs, quick ? 1000 : 6000));
  const lowRate = values['low-rate'] === '0' ? 0 : positive('low-rate', values['low-rate'], 25);
  const concurrency = (values.concurrency ?? (quick ? '16' : '16,32')).split(',').map((s) => Math.round(positive('concurrency', s.trim(), 16)));
  return {
    quick,
    topology: topology as Topology,
    ratePerSec: positive('rate', values.rate, 200),
    durationSec: positive('duration-s', values['duration-s'], quick ? 2 : 15),
    warmupSec: positive('warmup-s', values['warmup-s'], quick ? 0.5 : 3),
    lowRatePerSec: lowRate,
    lowRateDurationSec: positive('low-rate-duration-s', values['low-rate-duration-s'], quick ? 1.5 : 10),
    jobs,
    warmupJobs: Math.round(positive('warmup-jobs', values['warmup-jobs'], Math.min(1000, Math.ceil(jobs / 10)))),
    clientConcurrency: Math.round(positive('client-concurrency', values['client-concurrency'], 64)),
    latencyConcurrency: Math.round(positive('latency-concurrency', values['latency-concurrency'], 16)),
    throughputConcurrency: [...new Set(concurrency)],
    throughputRounds: Math.round(positive('rounds', values.rounds, quick ? 1 : 2)),
    clientMode,
    autoPipelining: values['auto-pipelining'] ?? false,
    streams: values.streams === '0' ? 0 : Math.round(positive('streams', values.streams, quick ? 5 : 30)),
    apiProcesses: (values['api-processes'] ?? (quick ? '' : '1,2')).split(',').filter((x) => x.trim() !== '' && x.trim() !== '0').map((x) => Math.round(positive('api-processes', x.trim(), 1))),
    streamTps: positive('stream-tps', values['stream-tps'], 50),
    streamTokens: Math.round(positive('stream-tokens', values['stream-tokens'], 20)),
    startupRuns: values['startup-runs'] === '0' ? 0 : Math.round(positive('startup-runs', values['startup-runs'], quick ? 1 : 3)),
    toolJobs: values['tool-jobs'] === '0' ? 0 : Math.round(positive('tool-jobs', values['tool-jobs'], quick ? 5 : 20)),
    toolMaxTokens: Math.round(positive('tool-max-tokens', values['tool-max-tokens'], 120)),
  };
}
