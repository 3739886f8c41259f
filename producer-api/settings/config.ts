/** The API's environment variables, read once with typed readers. */
import { ConfigError, envBytes, envDurationMs, envInt, envString, type Env } from '../../protocol/env.ts';
import { tenantLimitsFromText } from '../../protocol/tenant-limits.ts';
import { apiOptions, type ApiOptions } from './options.ts';
import { batchOptionsFromEnv } from '../batch/config.ts';
import type { BatchOptions } from '../batch/options.ts';

export interface ApiConfig {
  port: number;
  host: string;
  options: ApiOptions;
  resultTtlSec: number;
  webhookSecret: string | null;
  batch?: Partial<BatchOptions>;
}

/** `tenant:key,tenant2:key2` -> key -> tenant. */
export function parseApiKeys(text: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const pair of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = pair.indexOf(':');
    if (i <= 0 || i === pair.length - 1) throw new ConfigError(`FABRIC_API_KEYS entries must be tenant:key, got ${JSON.stringify(pair)}`);
    keys.set(pair.slice(i + 1), pair.slice(0, i));
  }
  return keys;
}

export function apiConfigFromEnv(env: Env): ApiConfig {
  const base = apiOptions();
  return {
    port: envInt(env, 'PORT', 8080),
    host: envString(env, 'HOST', '127.0.0.1'),
    resultTtlSec: Math.round(envDurationMs(env, 'FABRIC_RESULT_TTL', 3_600_000) / 1000),
    webhookSecret: env.FABRIC_WEBHOOK_SECRET || null,
    batch: batchOptionsFromEnv(env),
    options: apiOptions({
      apiKeys: parseApiKeys(envString(env, 'FABRIC_API_KEYS', '')),
      adminKey: env.FABRIC_ADMIN_KEY || null,
      metricsKey: env.FABRIC_METRICS_KEY || null,
      bodyLimitBytes: envBytes(env, 'FABRIC_BODY_LIMIT', base.bodyLimitBytes),
      maxBacklog: envInt(env, 'FABRIC_MAX_BACKLOG', base.maxBacklog, 1),
      defaultTimeoutMs: envDurationMs(env, 'FABRIC_JOB_TIMEOUT', base.defaultTimeoutMs),
      defaultTtlMs: envDurationMs(env, 'FABRIC_JOB_TTL', base.defaultTtlMs),
      expirySweepMs: envDurationMs(env, 'FABRIC_EXPIRY_SWEEP', base.expirySweepMs),
      syncWaitMs: envDurationMs(env, 'FABRIC_SYNC_WAIT', base.syncWaitMs),
      maxWaitMs: envDurationMs(env, 'FABRIC_MAX_WAIT', base.maxWaitMs),
      replicaAcks: envInt(env, 'FABRIC_REPLICA_ACKS', base.replicaAcks),
      replicaAckTimeoutMs: envDurationMs(env, 'FABRIC_REPLICA_ACK_TIMEOUT', base.replicaAckTimeoutMs),
      webhookAllowList: envString(env, 'FABRIC_WEBHOOK_ALLOWLIST', ''),
      responseTtlSec: Math.round(envDurationMs(env, 'FABRIC_RESPONSE_TTL', base.responseTtlSec * 1000) / 1000),
      tenantLimits: tenantLimitsFromText(envString(env, 'FABRIC_TENANT_LIMITS', '')),
      queue: { ...base.queue, attempts: envInt(env, 'FABRIC_JOB_ATTEMPTS', base.queue.attempts, 1) },
    }),
  };
}
