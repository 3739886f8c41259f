/** The simulator's command line: one options type, defaults merged and validated in one place. */
import { parseArgs } from 'node:util';
import { isPolicyName, POLICY_NAMES, type PolicyName } from './policies/index.ts';
import { parseFleet, uniformFleet, type WorkerClass } from './model/fleet.ts';
import { parseBytes } from './model/trace.ts';

export interface SimCliOptions {
  readonly trace?: string;
  readonly models?: string;
  readonly gpus: number;
  readonly gpuMemBytes: number;
  /** Autoscaling ceiling; equal to `gpus` (a fixed pool) unless given. */
  readonly maxGpus: number;
  /** The worker classes every policy runs on: `--fleet`, else one class from --gpus, --gpu-mem and --max-gpus. */
  readonly fleet: WorkerClass[];
  readonly gpuStartMs?: number;
  readonly seed: number;
  readonly json: boolean;
  readonly reportDir?: string;
  readonly policies: PolicyName[];
  readonly tickMs: number;
  /** Generated traces only: length in minutes and mean arrivals per second. */
  readonly durationMin: number;
  readonly rate?: number;
  /** Writes the trace and models actually used (handy for a generated one). */
  readonly saveTrace?: string;
  /** Generated traces only: the daily cycle's swing (0.5: off-peak a third of the peak). */
  readonly dailyAmplitude?: number;
  /** The fabric's cost knob (`scaleWaitMsPerGpuSecond`); the policy default when absent. */
  readonly costWeight?: number;
  /** The fabric's latency target (`targetP95Ms`, FABRIC_TARGET_P95_MS); none when absent. */
  readonly targetP95Ms?: number;
  /** Also run the fabric at each latency target of sim/frontier.ts and print the frontier. */
  readonly frontier: boolean;
}

export const SIM_CLI_DEFAULTS = Object.freeze({ gpus: 2, gpuMem: '48GiB', seed: 1, tickMs: 2_000, durationMin: 120 });

export const USAGE = `usage: npm run sim -- [--trace FILE --models FILE] [--gpus N] [--gpu-mem 48GiB]
  [--max-gpus M] [--fleet 2x24GiB,1-4x80GiB,1x2x80GiB] [--gpu-start-ms T] [--seed S] [--policies ${POLICY_NAMES.join(',')}]
  [--json] [--report DIR] [--tick-ms 2000] [--duration-min 120] [--rate R] [--save-trace DIR]
  [--daily-amplitude 0.6] [--cost-weight MS_PER_GPU_SECOND] [--target-p95-ms MS] [--frontier]`;

export class UsageError extends Error {}

/** Parses argv (without node and script); throws UsageError with a readable message. */
export function parseSimArgs(argv: string[]): SimCliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        trace: { type: 'string' },
        models: { type: 'string' },
        gpus: { type: 'string' },
        'gpu-mem': { type: 'string' },
        'max-gpus': { type: 'string' },
        fleet: { type: 'string' },
        'gpu-start-ms': { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'boolean' },
        report: { type: 'string' },
        policies: { type: 'string' },
        'tick-ms': { type: 'string' },
        'duration-min': { type: 'string' },
        rate: { type: 'string' },
        'save-trace': { type: 'string' },
        'daily-amplitude': { type: 'string' },
        'cost-weight': { type: 'string' },
        'target-p95-ms': { type: 'string' },
        frontier: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
  if (values.help) throw new UsageError(USAGE);
  if (values.trace && !values.models) throw new UsageError('--trace needs --models (the sizes of the models it names)');
  const gpus = int('--gpus', values.gpus, SIM_CLI_DEFAULTS.gpus, 1);
  let gpuMemBytes: number;
  try {
    gpuMemBytes = parseBytes(values['gpu-mem'] ?? SIM_CLI_DEFAULTS.gpuMem);
  } catch (err) {
    throw new UsageError(`--gpu-mem: ${(err as Error).message}`);
  }
  const maxGpus = int('--max-gpus', values['max-gpus'], gpus, 1);
  if (maxGpus < gpus) throw new UsageError(`--max-gpus (${maxGpus}) must be >= --gpus (${gpus})`);
  let fleet = uniformFleet(gpus, gpuMemBytes, maxGpus);
  if (values.fleet !== undefined) {
    if (values.gpus !== undefined || values['gpu-mem'] !== undefined || values['max-gpus'] !== undefined) throw new UsageError('--fleet replaces --gpus, --gpu-mem and --max-gpus; give one or the other');
    try {
      fleet = parseFleet(values.fleet);
    } catch (err) {
      throw new UsageError(`--fleet: ${(err as Error).message}`);
    }
  }
  const policies = (values.policies ?? POLICY_NAMES.join(',')).split(',').map((p) => p.trim()).filter(Boolean);
  const unknown = policies.filter((p) => !isPolicyName(p));
  if (unknown.length > 0 || policies.length === 0) throw new UsageError(`unknown policy ${unknown.join(', ')}; known: ${POLICY_NAMES.join(', ')}`);
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  if (rate !== undefined && !(rate > 0)) throw new UsageError(`--rate must be > 0, got ${values.rate}`);
  const dailyAmplitude = values['daily-amplitude'] === undefined ? undefined : Number(values['daily-amplitude']);
  if (dailyAmplitude !== undefined && !(dailyAmplitude >= 0 && dailyAmplitude < 1)) throw new UsageError(`--daily-amplitude must be >= 0 and < 1, got ${values['daily-amplitude']}`);
  const costWeight = values['cost-weight'] === undefined ? undefined : int('--cost-weight', values['cost-weight'], 0, 0);
  const targetP95Ms = values['target-p95-ms'] === undefined ? undefined : int('--target-p95-ms', values['target-p95-ms'], 0, 0);
  return {
    trace: values.trace,
    ...(targetP95Ms !== undefined ? { targetP95Ms } : {}),
    frontier: values.frontier ?? false,
    ...(dailyAmplitude !== undefined ? { dailyAmplitude } : {}),
    ...(costWeight !== undefined ? { costWeight } : {}),
    models: values.models,
    gpus,
    gpuMemBytes,
    maxGpus,
    fleet,
    gpuStartMs: values['gpu-start-ms'] === undefined ? undefined : int('--gpu-start-ms', values['gpu-start-ms'], 0, 0),
    seed: int('--seed', values.seed, SIM_CLI_DEFAULTS.seed, 0),
    json: values.json ?? false,
    reportDir: values.report,
    policies: [...new Set(policies)] as PolicyName[],
    tickMs: int('--tick-ms', values['tick-ms'], SIM_CLI_DEFAULTS.tickMs, 1),
    durationMin: int('--duration-min', values['duration-min'], SIM_CLI_DEFAULTS.durationMin, 1),
    rate,
    saveTrace: values['save-trace'],
  };
}

function int(flag: string, raw: string | undefined, dflt: number, min: number): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be an integer >= ${min}, got "${raw}"`);
  return n;
}
