/** The scheduler's environment, read once through the typed readers. */
import { ConfigError, envDurationMs, envList } from '../protocol/env.js';
import { canonicalModelName, InvalidModelNameError } from '../protocol/model-names.js';
import { redisConfigFromEnv, type RedisConfig } from '../protocol/redis-config.js';
import { SCHEDULER_DEFAULTS, type SchedulerOptionsInput } from './options.js';

type Env = Record<string, string | undefined>;

export interface SchedulerConfig extends RedisConfig {
  options: SchedulerOptionsInput;
}

/**
 * REDIS_URL (redis://127.0.0.1:6379), FABRIC_PREFIX (fabric), FABRIC_SCHEDULER_TICK (2s),
 * FABRIC_PIN (comma list of models never evicted; `llama3` means `llama3:latest`).
 */
export function schedulerConfigFromEnv(env: Env): SchedulerConfig {
  return {
    ...redisConfigFromEnv(env),
    options: {
      tickMs: envDurationMs(env, 'FABRIC_SCHEDULER_TICK', SCHEDULER_DEFAULTS.tickMs),
      policy: { pinned: envList(env, 'FABRIC_PIN').map(pinnedName) },
    },
  };
}

function pinnedName(name: string): string {
  try {
    return canonicalModelName(name);
  } catch (err) {
    if (err instanceof InvalidModelNameError) throw new ConfigError(`FABRIC_PIN holds an invalid model name: ${err.message}`);
    throw err;
  }
}
