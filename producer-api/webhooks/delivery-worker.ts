/**
 * Sends webhook deliveries from the webhooks queue (see store/webhook-enqueue.ts): checks
 * the URL with the SSRF guard, POSTs the frozen body with Standard Webhooks headers through
 * the guarded agent, and records every attempt in the job's delivery log.
 *
 * Outcome of an attempt, decided in one place (`classifyStatus` and `attemptOnce`):
 * 2xx delivered; 410 final (the receiver asked us to stop); any other status, a network
 * error or a timeout retries with the queue's exponential backoff; a URL the guard refuses
 * is final. Redirects are never followed: a 3xx is an ordinary failure, so a redirect can
 * never lead a delivery to an address the guard did not check.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { checkBounds } from '../../protocol/options-check.ts';
import type { RedisClient } from '../../store/redis-client.ts';
import { request, type Agent } from 'undici';
import type { Keys } from '../../protocol/keys.ts';
import { createLogger, type Logger } from '../../protocol/logger.ts';
import type { WebhookEvent } from '../../protocol/statuses.ts';
import { WEBHOOK_QUEUE, type WebhookDelivery } from '../../store/webhook-enqueue.ts';
import { parseWebhookSecret, signatureHeader } from '../../protocol/webhook-signing.ts';
import { metrics } from '../settings/metrics.ts';
import {
  EMPTY_ALLOW_LIST,
  checkWebhookUrl,
  createGuardedAgent,
  isGuardRefusal,
  systemLookup,
  type AllowList,
  type LookupFn,
} from './ssrf-guard.ts';

export interface WebhookDeliveryWorkerOptions {
  connection: RedisClient;
  keys: Keys;
  /**
   * Signing secret(s) `whsec_...`, required: unsigned webhooks cannot be trusted by anyone.
   * Several secrets sign with each (old and new during a rotation).
   */
  secret: string | readonly string[];
  /** @defaultValue '{webhooks}' */
  queueName?: string;
  /** Whole-attempt limit: connect, send, response headers and body. @defaultValue 10000 */
  timeoutMs?: number;
  /** Operator allow-list for otherwise refused hosts/addresses. @defaultValue none */
  allowList?: AllowList;
  /** Deliveries in flight at once. @defaultValue 16 */
  concurrency?: number;
  /** @defaultValue 'inference-fabric-webhooks/1' */
  userAgent?: string;
  /** Attempts kept per job in its delivery log. @defaultValue 100 */
  logMaxEntries?: number;
  /** Seconds a delivery log lives after its last attempt. @defaultValue 86400 */
  logTtlSec?: number;
  /** DNS port; the tests inject one. @defaultValue system resolver */
  lookup?: LookupFn;
  logger?: Logger;
}

interface CompiledWorkerOptions {
  secrets: string[];
  queueName: string;
  timeoutMs: number;
  allowList: AllowList;
  concurrency: number;
  userAgent: string;
  logMaxEntries: number;
  logTtlSec: number;
  lookup: LookupFn;
}

export const WEBHOOK_DELIVERY_DEFAULTS = {
  queueName: WEBHOOK_QUEUE,
  timeoutMs: 10_000,
  allowList: EMPTY_ALLOW_LIST,
  concurrency: 16,
  userAgent: 'inference-fabric-webhooks/1',
  logMaxEntries: 100,
  logTtlSec: 24 * 3600,
  lookup: systemLookup,
} as const satisfies Omit<CompiledWorkerOptions, 'secrets'>;

function compileWorkerOptions(o: WebhookDeliveryWorkerOptions): CompiledWorkerOptions {
  const secrets = typeof o.secret === 'string' ? [o.secret] : [...o.secret];
  if (secrets.length === 0) throw new Error('webhook delivery needs at least one signing secret');
  secrets.forEach(parseWebhookSecret); // throws WebhookSecretError on a malformed one, at start
  const c: CompiledWorkerOptions = {
    secrets,
    queueName: o.queueName ?? WEBHOOK_DELIVERY_DEFAULTS.queueName,
    timeoutMs: o.timeoutMs ?? WEBHOOK_DELIVERY_DEFAULTS.timeoutMs,
    allowList: o.allowList ?? WEBHOOK_DELIVERY_DEFAULTS.allowList,
    concurrency: o.concurrency ?? WEBHOOK_DELIVERY_DEFAULTS.concurrency,
    userAgent: o.userAgent ?? WEBHOOK_DELIVERY_DEFAULTS.userAgent,
    logMaxEntries: o.logMaxEntries ?? WEBHOOK_DELIVERY_DEFAULTS.logMaxEntries,
    logTtlSec: o.logTtlSec ?? WEBHOOK_DELIVERY_DEFAULTS.logTtlSec,
    lookup: o.lookup ?? WEBHOOK_DELIVERY_DEFAULTS.lookup,
  };
  const atLeastOne = { min: 1, int: true };
  checkBounds('webhook delivery', c, { timeoutMs: atLeastOne, concurrency: atLeastOne, logMaxEntries: atLeastOne, logTtlSec: atLeastOne });
  return c;
}

/** One attempt as recorded in `keys.jobDeliveries(jobId)`. */
export interface DeliveryLogEntry {
  event: WebhookEvent;
  run: number;
  attempt: number;
  at: string;
  /** HTTP status, or null when no response came (refused, network error, timeout). */
  status: number | null;
  ok: boolean;
  error?: string;
  duration_ms: number;
  webhook_id: string;
}

/** The attempts recorded for a job, oldest first (at most the last `logMaxEntries`). */
export async function readDeliveryLog(redis: RedisClient, keys: Keys, jobId: string): Promise<DeliveryLogEntry[]> {
  const raw = await redis.lrange(keys.jobDeliveries(jobId), 0, -1);
  return raw.flatMap((s) => {
    try {
      return [JSON.parse(s) as DeliveryLogEntry];
    } catch {
      return [];
    }
  });
}

type Verdict = 'delivered' | 'retry' | 'final';
interface AttemptOutcome {
  verdict: Verdict;
  status: number | null;
  error?: string;
}

/** What a response status means for the delivery (Standard Webhooks' status etiquette). */
export function classifyStatus(status: number): AttemptOutcome {
  if (status >= 200 && status < 300) return { verdict: 'delivered', status };
  if (status === 410) return { verdict: 'final', status, error: 'receiver answered 410 Gone: no more retries' };
  if (status >= 300 && status < 400) return { verdict: 'retry', status, error: `redirect ${status} not followed` };
  return { verdict: 'retry', status, error: `receiver answered ${status}` };
}

function describeError(err: unknown, timeoutMs: number): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `timed out after ${timeoutMs} ms`;
  return e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? err);
}

export type WebhookWorkerState = 'running' | 'closing' | 'closed';

export class WebhookDeliveryWorker {
  private readonly opts: CompiledWorkerOptions;
  private readonly redis: RedisClient;
  private readonly keys: Keys;
  private readonly log: Logger;
  private readonly agent: Agent;
  private readonly worker: Worker<WebhookDelivery>;
  private closing: Promise<void> | undefined;
  state: WebhookWorkerState = 'running';

  constructor(options: WebhookDeliveryWorkerOptions) {
    this.opts = compileWorkerOptions(options);
    this.redis = options.connection;
    this.keys = options.keys;
    this.log = options.logger ?? createLogger('webhook-delivery');
    this.agent = createGuardedAgent(this.opts.allowList, { lookup: this.opts.lookup, connectTimeoutMs: this.opts.timeoutMs });
    this.worker = new Worker<WebhookDelivery>(this.opts.queueName, (job) => this.deliver(job), {
      connection: options.connection,
      prefix: options.keys.bullPrefix,
      concurrency: this.opts.concurrency,
    });
    this.worker.on('error', (err) => this.log.error({ err }, 'webhook worker error'));
    this.log.info({ state: this.state, queue: this.opts.queueName, concurrency: this.opts.concurrency }, 'webhook worker state changed');
  }

  /** Resolves once the worker is connected and consuming. */
  async ready(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /** One delivery attempt: the processor BullMQ calls; throws to ask for a retry or to stop. */
  private async deliver(job: Job<WebhookDelivery>): Promise<void> {
    const d = job.data;
    const webhookId = job.id!;
    const attempt = job.attemptsMade + 1;
    const startedAt = Date.now();
    const outcome = await this.attemptOnce(d, webhookId);
    const entry: DeliveryLogEntry = {
      event: d.event,
      run: d.runNo,
      attempt,
      at: new Date(startedAt).toISOString(),
      status: outcome.status,
      ok: outcome.verdict === 'delivered',
      ...(outcome.error !== undefined && { error: outcome.error }),
      duration_ms: Date.now() - startedAt,
      webhook_id: webhookId,
    };
    await this.appendLog(d.jobId, entry);

    const fields = { jobId: d.jobId, event: d.event, webhookId, attempt, status: outcome.status, error: outcome.error };
    if (outcome.verdict === 'delivered') {
      metrics.webhookDeliveries.inc({ event: d.event, outcome: 'delivered' });
      this.log.info(fields, 'webhook delivered');
      return;
    }
    const lastAttempt = outcome.verdict === 'final' || attempt >= (job.opts.attempts ?? 1);
    metrics.webhookDeliveries.inc({ event: d.event, outcome: lastAttempt ? 'failed' : 'retry' });
    if (lastAttempt) this.log.warn(fields, 'webhook delivery failed for good');
    else this.log.info(fields, 'webhook attempt failed, will retry');
    // UnrecoverableError makes BullMQ skip the remaining attempts; a plain Error uses the backoff.
    if (outcome.verdict === 'final') throw new UnrecoverableError(outcome.error ?? 'webhook delivery refused');
    throw new Error(outcome.error ?? 'webhook attempt failed');
  }

  private async attemptOnce(d: WebhookDelivery, webhookId: string): Promise<AttemptOutcome> {
    const verdict = await checkWebhookUrl(d.url, this.opts.allowList, this.opts.lookup);
    if (!verdict.ok) return { verdict: verdict.retryable ? 'retry' : 'final', status: null, error: `refused: ${verdict.reason}` };
    // The attempt time is signed (replay guard); the envelope keeps the event's own time.
    const timestampSec = Math.floor(Date.now() / 1000);
    try {
      const res = await request(d.url, {
        method: 'POST',
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.opts.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': this.opts.userAgent,
          'webhook-id': webhookId,
          'webhook-timestamp': String(timestampSec),
          'webhook-signature': signatureHeader(this.opts.secrets, webhookId, timestampSec, d.body),
        },
        body: d.body,
      });
      // Drain (bounded) so the socket returns to the pool; the content is not needed.
      await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
      return classifyStatus(res.statusCode);
    } catch (err) {
      if (isGuardRefusal(err)) return { verdict: 'final', status: null, error: `refused at connect: ${(err as Error).message}` };
      return { verdict: 'retry', status: null, error: describeError(err, this.opts.timeoutMs) };
    }
  }

  private async appendLog(jobId: string, entry: DeliveryLogEntry): Promise<void> {
    const key = this.keys.jobDeliveries(jobId);
    try {
      await this.redis
        .multi()
        .rpush(key, JSON.stringify(entry))
        .ltrim(key, -this.opts.logMaxEntries, -1)
        .expire(key, this.opts.logTtlSec)
        .exec();
    } catch (err) {
      // The log is for inspection; losing one entry must not turn a delivered webhook into a retry.
      this.log.warn({ err, jobId }, 'could not append webhook delivery log');
    }
  }

  /** Stops taking deliveries, lets in-flight ones finish, then closes the HTTP agent. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.setState('closing');
    try {
      await this.worker.close();
    } catch (err) {
      this.log.warn({ err }, 'closing webhook worker failed');
    }
    try {
      await this.agent.close();
    } catch (err) {
      this.log.warn({ err }, 'closing webhook HTTP agent failed');
    }
    this.setState('closed');
  }

  private setState(state: WebhookWorkerState): void {
    this.state = state;
    this.log.info({ state }, 'webhook worker state changed');
  }
}
