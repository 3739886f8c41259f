/** The API's one options type: defaults written once, merged, validated and frozen up front. Durations are milliseconds. */
import { checkBounds, type Bound } from '../../protocol/options-check.ts';
import { QUEUE_SETTINGS_DEFAULTS, type QueueSettings } from '../../protocol/queue-settings.ts';
import { tenantLimits, type TenantLimits } from '../../protocol/tenant-limits.ts';

export interface ApiOptions {
  /** Bearer key -> tenant (FABRIC_API_KEYS). Empty: auth off (laptop mode). @defaultValue empty */
  readonly apiKeys: ReadonlyMap<string, string>;
  /** Guards load/unload and the admin pages (FABRIC_ADMIN_KEY); when auth is on and this is unset, they are closed. @defaultValue null */
  readonly adminKey: string | null;
  /** Largest request body (FABRIC_BODY_LIMIT). @defaultValue 10 MiB */
  readonly bodyLimitBytes: number;
  /** Waiting jobs a model queue may hold before submissions get 503 (FABRIC_MAX_BACKLOG). @defaultValue 1000 */
  readonly maxBacklog: number;
  /** Execution timeout of a job that names none (FABRIC_JOB_TIMEOUT). @defaultValue 10 min */
  readonly defaultTimeoutMs: number;
  /** How long a job may wait unstarted before it expires, 0: forever (FABRIC_JOB_TTL). @defaultValue 0 */
  readonly defaultTtlMs: number;
  /** How often an API instance sweeps queued jobs past their deadline, 0: only when read or picked up (FABRIC_EXPIRY_SWEEP). @defaultValue 5 s */
  readonly expirySweepMs: number;
  /** Default wait of the sync wrapper and Ollama routes' non-streaming answers (FABRIC_SYNC_WAIT). @defaultValue 90 s */
  readonly syncWaitMs: number;
  /** Upper bound for `Prefer: wait=N` and `?wait=N` (FABRIC_MAX_WAIT). @defaultValue 5 min */
  readonly maxWaitMs: number;
  /** How long an Idempotency-Key keeps naming its job. @defaultValue 24 h */
  readonly idempotencyTtlSec: number;
  /**
   * Replicas that must acknowledge a new job's writes (Redis WAIT) before it is answered as
   * accepted, so a failover to a replica cannot lose it (FABRIC_REPLICA_ACKS); 0: don't wait.
   * @defaultValue 0
   */
  readonly replicaAcks: number;
  /** Longest wait for those acknowledgements; past it the job is answered anyway and a warning logged (FABRIC_REPLICA_ACK_TIMEOUT). @defaultValue 1 s */
  readonly replicaAckTimeoutMs: number;
  /** Seconds sent in Retry-After when a wait ends before the job does. @defaultValue 1 */
  readonly pollRetryAfterSec: number;
  /** BullMQ settings shared with the workers (attempts: FABRIC_JOB_ATTEMPTS). @defaultValue QUEUE_SETTINGS_DEFAULTS */
  readonly queue: Readonly<QueueSettings>;
  /** Allow-list for webhook targets that resolve to private addresses (FABRIC_WEBHOOK_ALLOWLIST). @defaultValue '' */
  readonly webhookAllowList: string;
  /** Key `/metrics` requires (FABRIC_METRICS_KEY); null: open. @defaultValue null */
  readonly metricsKey: string | null;
  /** Per-tenant limits and fair-share weights (FABRIC_TENANT_LIMITS, protocol/tenant-limits.ts). @defaultValue none */
  readonly tenantLimits: TenantLimits;
  /** Seconds a stored Responses API response is kept, from its creation (FABRIC_RESPONSE_TTL). @defaultValue 30 days */
  readonly responseTtlSec: number;
  /** Reported by /healthz and the Ollama version route. @defaultValue '0.1.0' */
  readonly version: string;
}

export type ApiOptionsInput = Partial<Omit<ApiOptions, 'queue'>> & { queue?: Partial<QueueSettings> };

export const API_DEFAULTS: ApiOptions = Object.freeze({
  apiKeys: new Map<string, string>(),
  adminKey: null,
  bodyLimitBytes: 10 * 1024 * 1024,
  maxBacklog: 1000,
  defaultTimeoutMs: 10 * 60_000,
  defaultTtlMs: 0,
  expirySweepMs: 5_000,
  syncWaitMs: 90_000,
  maxWaitMs: 300_000,
  idempotencyTtlSec: 24 * 3600,
  replicaAcks: 0,
  replicaAckTimeoutMs: 1_000,
  pollRetryAfterSec: 1,
  queue: QUEUE_SETTINGS_DEFAULTS,
  webhookAllowList: '',
  tenantLimits: tenantLimits({}),
  responseTtlSec: 30 * 24 * 3600,
  metricsKey: null,
  version: '0.1.0',
});

type NumericKey = 'bodyLimitBytes' | 'maxBacklog' | 'defaultTimeoutMs' | 'defaultTtlMs' | 'expirySweepMs' | 'syncWaitMs' | 'maxWaitMs' | 'idempotencyTtlSec' | 'pollRetryAfterSec' | 'replicaAcks' | 'replicaAckTimeoutMs' | 'responseTtlSec';

const BOUNDS: Record<NumericKey, Bound> = {
  bodyLimitBytes: { min: 1, int: true, env: 'FABRIC_BODY_LIMIT' },
  maxBacklog: { min: 1, int: true, env: 'FABRIC_MAX_BACKLOG' },
  defaultTimeoutMs: { min: 0, gt: true, env: 'FABRIC_JOB_TIMEOUT' },
  defaultTtlMs: { min: 0, env: 'FABRIC_JOB_TTL' },
  expirySweepMs: { min: 0, env: 'FABRIC_EXPIRY_SWEEP' },
  syncWaitMs: { min: 0, env: 'FABRIC_SYNC_WAIT' },
  maxWaitMs: { min: 0, env: 'FABRIC_MAX_WAIT' },
  idempotencyTtlSec: { min: 1, int: true },
  pollRetryAfterSec: { min: 1, int: true },
  replicaAcks: { min: 0, int: true, env: 'FABRIC_REPLICA_ACKS' },
  replicaAckTimeoutMs: { min: 0, gt: true, int: true, env: 'FABRIC_REPLICA_ACK_TIMEOUT' },
  responseTtlSec: { min: 1, int: true, env: 'FABRIC_RESPONSE_TTL' },
};

/** Merges `input` over `API_DEFAULTS`, validates and freezes the result. */
export function apiOptions(input: ApiOptionsInput = {}): ApiOptions {
  const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as ApiOptionsInput;
  const opts: ApiOptions = { ...API_DEFAULTS, ...defined, queue: Object.freeze({ ...API_DEFAULTS.queue, ...input.queue }) };
  checkBounds('api', opts, BOUNDS);
  return Object.freeze(opts);
}
