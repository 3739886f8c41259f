/** The API's one options type, defaults in one place. Durations are milliseconds. */
import { QUEUE_SETTINGS_DEFAULTS, type QueueSettings } from '../protocol/queue-settings.js';

export interface ApiOptions {
  /** Bearer key -> tenant. Empty: auth off (laptop mode). */
  apiKeys: Map<string, string>;
  /** Guards load/unload and the admin pages; when auth is on and this is unset, they are closed. */
  adminKey: string | null;
  bodyLimitBytes: number;
  /** Waiting jobs a model queue may hold before submissions get 503. */
  maxBacklog: number;
  defaultTimeoutMs: number;
  /** How long a job may wait unstarted before it expires (0: forever). */
  defaultTtlMs: number;
  /** How often an API instance sweeps queued jobs past their deadline (0: only when read or picked up). */
  expirySweepMs: number;
  /** Default wait of the sync wrapper and Ollama routes' non-streaming answers. */
  syncWaitMs: number;
  /** Upper bound for `Prefer: wait=N` and `?wait=N`. */
  maxWaitMs: number;
  idempotencyTtlSec: number;
  /** Seconds sent in Retry-After when a wait ends before the job does. */
  pollRetryAfterSec: number;
  queue: QueueSettings;
  /** Allow-list for webhook targets that resolve to private addresses. */
  webhookAllowList: string;
  version: string;
}

export function apiOptions(partial: Partial<ApiOptions> = {}): ApiOptions {
  return {
    apiKeys: partial.apiKeys ?? new Map(),
    adminKey: partial.adminKey ?? null,
    bodyLimitBytes: partial.bodyLimitBytes ?? 10 * 1024 * 1024,
    maxBacklog: partial.maxBacklog ?? 1000,
    defaultTimeoutMs: partial.defaultTimeoutMs ?? 10 * 60_000,
    defaultTtlMs: partial.defaultTtlMs ?? 0,
    expirySweepMs: partial.expirySweepMs ?? 5_000,
    syncWaitMs: partial.syncWaitMs ?? 90_000,
    maxWaitMs: partial.maxWaitMs ?? 300_000,
    idempotencyTtlSec: partial.idempotencyTtlSec ?? 24 * 3600,
    pollRetryAfterSec: partial.pollRetryAfterSec ?? 1,
    queue: { ...QUEUE_SETTINGS_DEFAULTS, ...partial.queue },
    webhookAllowList: partial.webhookAllowList ?? '',
    version: partial.version ?? '0.1.0',
  };
}
