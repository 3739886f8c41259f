/** The scheduler's environment, read once through the typed readers. */
import { ConfigError, envDurationMs, envInt, envList, envString, type Env } from '../protocol/env.js';
import { canonicalModelName, InvalidModelNameError } from '../protocol/model-names.js';
import { redisConfigFromEnv, type RedisConfig } from '../protocol/redis-config.js';
import { SCALE_ACTUATOR_KINDS, type ScaleActuatorConfig, type ScaleActuatorKind } from './actuators/factory.js';
import { SCHEDULER_DEFAULTS, type SchedulerOptionsInput } from './options.js';
import { WORKER_LIMIT_DEFAULTS } from './actuators/scale-actuator.js';

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
 * own), FABRIC_K8S_DEPLOYMENT (fabric-worker).
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
  return { kind, options: { ...limits, ...(namespace ? { namespace } : {}), ...(deployment ? { deployment } : {}) } };
}

function pinnedName(name: string): string {
  try {
    return canonicalModelName(name);
  } catch (err) {
    if (err instanceof InvalidModelNameError) throw new ConfigError(`FABRIC_PIN holds an invalid model name: ${err.message}`);
    throw err;
  }
}
