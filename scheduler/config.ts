/** The scheduler's environment, read once through the typed readers. */
import { ConfigError, envDurationMs, envInt, envList, envRatio, envString, parseBytes, type Env } from '../protocol/env.ts';
import { canonicalModelName, InvalidModelNameError } from '../protocol/model-names.ts';
import { redisConfigFromEnv, type RedisConfig } from '../store/redis-config.ts';
import { SCALE_ACTUATOR_KINDS, type ScaleActuatorConfig, type ScaleActuatorKind } from './actuators/factory.ts';
import { SCHEDULER_DEFAULTS, type SchedulerOptionsInput } from './options.ts';
import { SCHEDULER_POLICY_DEFAULTS, type WorkerPoolSpec } from './policy.ts';
import { WORKER_LIMIT_DEFAULTS } from './actuators/scale-actuator.ts';

export interface SchedulerConfig extends RedisConfig {
  options: SchedulerOptionsInput;
  scale: ScaleActuatorConfig;
  /** The standalone process's HTTP server; port 0 turns it off. */
  http: { port: number; host: string };
}

export const SCHEDULER_HTTP_DEFAULTS = Object.freeze({ port: 9092, host: '0.0.0.0' });

/**
 * REDIS_URL (redis://127.0.0.1:6379), FABRIC_PREFIX (fabric), FABRIC_SCHEDULER_TICK (2s),
 * FABRIC_PIN (comma list of models never evicted; `llama3` means `llama3:latest`),
 * FABRIC_SCHEDULER_ID (instance name in logs and the lease; random), FABRIC_SCHEDULER_LEASE_TTL
 * (5s: a standby takes over at most this long after the leader dies), FABRIC_SCHEDULER_PORT
 * (9092; 0 off), FABRIC_SCHEDULER_HOST (0.0.0.0), FABRIC_SCALE_ACTUATOR (log | kubernetes |
 * metric), FABRIC_MIN_WORKERS (1), FABRIC_MAX_WORKERS (10), FABRIC_K8S_NAMESPACE (the pod's
 * own), FABRIC_K8S_DEPLOYMENT (fabric-worker), FABRIC_K8S_POOL_DEPLOYMENT (fabric-worker-{pool}),
 * FABRIC_WORKER_POOLS (`name:GPUSxSIZE:MIN-MAX,...`, e.g. `small:1x24GiB:1-4,large:1x80GiB:0-2`;
 * unset: one pool), FABRIC_SCALE_WAIT_PER_GPU_SECOND (ms of waiting one GPU-second is worth; 2000),
 * FABRIC_SCALE_DOWN_COOLDOWN (5m), FABRIC_TARGET_P95_MS (the p95 wait to scale for, e.g. 3000 or 3s;
 * unset or 0: the cost knob decides), FABRIC_WORKER_START_TIME (how long a new worker takes to
 * take jobs; 60s).
 */
export function schedulerConfigFromEnv(env: Env): SchedulerConfig {
  const instanceId = envString(env, 'FABRIC_SCHEDULER_ID', '');
  // Unset keeps the lease's own default (LEASE_TTL_DEFAULT_MS); renewal follows at ttl / 3.
  const leaseTtlMs = env.FABRIC_SCHEDULER_LEASE_TTL ? envDurationMs(env, 'FABRIC_SCHEDULER_LEASE_TTL', 0) : undefined;
  return {
    ...redisConfigFromEnv(env),
    options: {
      ...(instanceId ? { instanceId } : {}),
      tickMs: envDurationMs(env, 'FABRIC_SCHEDULER_TICK', SCHEDULER_DEFAULTS.tickMs),
      ...(leaseTtlMs !== undefined ? { lease: { ttlMs: leaseTtlMs } } : {}),
      policy: {
        pinned: envList(env, 'FABRIC_PIN').map(pinnedName),
        // The policy asks within the same bounds the actuators clamp to; unset keeps the policy's own.
        ...(env.FABRIC_MIN_WORKERS ? { minWorkers: envInt(env, 'FABRIC_MIN_WORKERS', WORKER_LIMIT_DEFAULTS.minWorkers) } : {}),
        ...(env.FABRIC_MAX_WORKERS ? { maxWorkers: envInt(env, 'FABRIC_MAX_WORKERS', WORKER_LIMIT_DEFAULTS.maxWorkers, 1) } : {}),
        ...(env.FABRIC_SCALE_WAIT_PER_GPU_SECOND ? { scaleWaitMsPerGpuSecond: envInt(env, 'FABRIC_SCALE_WAIT_PER_GPU_SECOND', SCHEDULER_POLICY_DEFAULTS.scaleWaitMsPerGpuSecond) } : {}),
        ...(env.FABRIC_SCALE_DOWN_COOLDOWN ? { scaleDownCooldownMs: envDurationMs(env, 'FABRIC_SCALE_DOWN_COOLDOWN', SCHEDULER_POLICY_DEFAULTS.scaleDownCooldownMs) } : {}),
        ...(env.FABRIC_TARGET_P95_MS ? { targetP95Ms: envMs(env, 'FABRIC_TARGET_P95_MS') } : {}),
        ...(env.FABRIC_WORKER_START_TIME ? { workerStartMs: envDurationMs(env, 'FABRIC_WORKER_START_TIME', SCHEDULER_POLICY_DEFAULTS.workerStartMs) } : {}),
        ...(env.FABRIC_WORKER_POOLS ? { pools: parsePools(env.FABRIC_WORKER_POOLS) } : {}),
      },
    },
    scale: scaleConfig(env),
    http: {
      port: envInt(env, 'FABRIC_SCHEDULER_PORT', SCHEDULER_HTTP_DEFAULTS.port),
      host: envString(env, 'FABRIC_SCHEDULER_HOST', SCHEDULER_HTTP_DEFAULTS.host),
    },
  };
}

function scaleConfig(env: Env): ScaleActuatorConfig {
  const kind = envString(env, 'FABRIC_SCALE_ACTUATOR', 'log') as ScaleActuatorKind;
  if (!SCALE_ACTUATOR_KINDS.includes(kind)) {
    throw new ConfigError(`FABRIC_SCALE_ACTUATOR must be one of ${SCALE_ACTUATOR_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  }
  if (kind === 'log') return { kind };
  const limits = {
    minWorkers: envInt(env, 'FABRIC_MIN_WORKERS', WORKER_LIMIT_DEFAULTS.minWorkers),
    maxWorkers: envInt(env, 'FABRIC_MAX_WORKERS', WORKER_LIMIT_DEFAULTS.maxWorkers, 1),
  };
  if (limits.maxWorkers < limits.minWorkers) {
    throw new ConfigError(`FABRIC_MAX_WORKERS (${limits.maxWorkers}) must be >= FABRIC_MIN_WORKERS (${limits.minWorkers})`);
  }
  if (kind === 'metric') return { kind, options: limits };
  const namespace = envString(env, 'FABRIC_K8S_NAMESPACE', '');
  const deployment = envString(env, 'FABRIC_K8S_DEPLOYMENT', '');
  const deploymentPerPool = envString(env, 'FABRIC_K8S_POOL_DEPLOYMENT', '');
  return { kind, options: { ...limits, ...(namespace ? { namespace } : {}), ...(deployment ? { deployment } : {}), ...(deploymentPerPool ? { deploymentPerPool } : {}) } };
}

/** `small:1x24GiB:1-4,large:1x80GiB:0-2`: name, GPUs per worker x GPU size, min-max workers. */
export function parsePools(text: string): WorkerPoolSpec[] {
  return text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((part) => {
      const m = /^([^:]+):(\d+)x([^:]+):(\d+)-(\d+)$/i.exec(part);
      if (!m) throw new ConfigError(`FABRIC_WORKER_POOLS entry ${JSON.stringify(part)} must read name:GPUSxSIZE:MIN-MAX, e.g. large:1x80GiB:0-2`);
      return { name: m[1]!, gpus: Number(m[2]), gpuBytes: parseBytes(m[3]!), minWorkers: Number(m[4]), maxWorkers: Number(m[5]) };
    });
}

/** Milliseconds: a bare number is read as ms (the variable's unit), else a duration such as `3s`. */
function envMs(env: Env, name: string): number {
  const v = (env[name] ?? '').trim();
  return /^\d+(\.\d+)?$/.test(v) ? Number(v) : envDurationMs(env, name, 0);
}

function pinnedName(name: string): string {
  try {
    return canonicalModelName(name);
  } catch (err) {
    if (err instanceof InvalidModelNameError) throw new ConfigError(`FABRIC_PIN holds an invalid model name: ${err.message}`);
    throw err;
  }
}
