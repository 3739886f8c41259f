/**
 * The producer side of webhooks: the API and the worker call `enqueue` when a job changes
 * status; a delivery job lands on the webhooks BullMQ queue and the delivery worker
 * (producer-api/webhooks) sends, signs and retries it. Enqueueing never does network I/O
 * beyond Redis, so a slow receiver never slows a status change.
 */
import { Queue } from 'bullmq';
import type { RedisClient } from './redis-client.ts';
import type { Keys } from '../protocol/keys.ts';
import { createLogger, type Logger } from '../protocol/logger.ts';
import type { WebhookSpec } from '../protocol/job.ts';
import type { WebhookEvent } from '../protocol/statuses.ts';

/** In braces: the whole queue is one hash tag, so it works on a Redis Cluster (one slot). */
export const WEBHOOK_QUEUE = '{webhooks}';

/** What a delivery job carries: everything the delivery worker needs, body frozen at enqueue. */
export interface WebhookDelivery {
  jobId: string;
  event: WebhookEvent;
  runNo: number;
  url: string;
  /**
   * The exact bytes to POST. Serialized once here so every retry sends (and signs) the same
   * body, and the envelope timestamp stays the event's time, not the attempt's.
   */
  body: string;
}

export interface WebhookDispatcherOptions {
  connection: RedisClient;
  keys: Keys;
  /** On a Redis Cluster the name needs a hash tag (`{...}`). @defaultValue '{webhooks}' */
  queueName?: string;
  /** Delivery attempts in all, the first included. @defaultValue 8 */
  attempts?: number;
  /** Exponential backoff base: retry n waits about backoffMs * 2^(n-1). @defaultValue 1000 */
  backoffMs?: number;
  /** Fraction of each backoff delay randomized, so failing receivers are not hit in lockstep. @defaultValue 0.2 */
  backoffJitter?: number;
  /** How long a delivered job is kept; also how long a duplicate enqueue is recognized. @defaultValue 24 h */
  keepDeliveredSec?: number;
  /** How long a finally failed delivery is kept for inspection. @defaultValue 7 days */
  keepFailedSec?: number;
  logger?: Logger;
}

type CompiledDispatcherOptions = Required<Omit<WebhookDispatcherOptions, 'connection' | 'keys' | 'logger'>>;

export const WEBHOOK_DISPATCHER_DEFAULTS: CompiledDispatcherOptions = {
  queueName: WEBHOOK_QUEUE,
  attempts: 8,
  backoffMs: 1000,
  backoffJitter: 0.2,
  keepDeliveredSec: 24 * 3600,
  keepFailedSec: 7 * 24 * 3600,
};

function compileDispatcherOptions(opts: WebhookDispatcherOptions): CompiledDispatcherOptions {
  const o = { ...WEBHOOK_DISPATCHER_DEFAULTS };
  for (const [k, v] of Object.entries(opts)) if (v !== undefined && k in o) (o as Record<string, unknown>)[k] = v;
  if (!Number.isInteger(o.attempts) || o.attempts < 1) throw new Error(`attempts must be an integer >= 1, got ${o.attempts}`);
  if (!(o.backoffMs >= 0)) throw new Error(`backoffMs must be >= 0, got ${o.backoffMs}`);
  if (!(o.backoffJitter >= 0 && o.backoffJitter <= 1)) throw new Error(`backoffJitter must be in [0, 1], got ${o.backoffJitter}`);
  if (o.queueName.includes(':')) throw new Error('queueName cannot contain ":"');
  return o;
}

/** The Standard Webhooks envelope `{type, timestamp, data}` as the JSON string that is sent. */
export function webhookEnvelope(event: WebhookEvent, payload: object, at: Date = new Date()): string {
  return JSON.stringify({ type: event, timestamp: at.toISOString(), data: payload });
}

/**
 * The delivery id: BullMQ job id and `webhook-id` header at once, deterministic in
 * (job, event, run) so a repeated enqueue is a no-op and a re-run gets fresh deliveries.
 * It is dot- and colon-free: Standard Webhooks signs `id.timestamp.body` (a dotted id would
 * be ambiguous) and BullMQ refuses `:` in custom ids. Other characters of the job id are
 * %-escaped, which keeps the mapping injective.
 */
export function deliveryIdFor(jobId: string, event: WebhookEvent, runNo = 1): string {
  const safeJobId = jobId.replace(/[^A-Za-z0-9_-]/g, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
  );
  return `${safeJobId}_${event.replace(/^job\./, '')}_${runNo}`;
}

/** Whether a job's webhook asks for this event (no `events` list means all of them). */
export function wantsEvent(webhook: WebhookSpec | null | undefined, event: WebhookEvent): webhook is WebhookSpec {
  return !!webhook && (!webhook.events || webhook.events.includes(event));
}

export class WebhookDispatcher {
  readonly queue: Queue<WebhookDelivery>;
  private readonly opts: CompiledDispatcherOptions;
  private closing: Promise<void> | undefined;

  constructor(options: WebhookDispatcherOptions) {
    this.opts = compileDispatcherOptions(options);
    this.queue = new Queue<WebhookDelivery>(this.opts.queueName, {
      connection: options.connection,
      prefix: options.keys.bullPrefix,
    });
    const log = options.logger ?? createLogger('webhook-dispatcher');
    // A Queue re-emits connection errors; without a listener they would crash the process.
    this.queue.on('error', (err) => log.warn({ err, queue: this.opts.queueName }, 'webhook queue error'));
  }

  /**
   * Queues the delivery of `event` for `job` if its webhook wants it; returns the delivery id,
   * or null when nothing applies. Idempotent per (job, event, runNo) while the delivery is kept.
   */
  async enqueue(
    job: { id: string; webhook: WebhookSpec | null | undefined },
    event: WebhookEvent,
    payload: object,
    runNo = 1,
  ): Promise<string | null> {
    if (!wantsEvent(job.webhook, event)) return null;
    const deliveryId = deliveryIdFor(job.id, event, runNo);
    const data: WebhookDelivery = {
      jobId: job.id,
      event,
      runNo,
      url: job.webhook.url,
      body: webhookEnvelope(event, payload),
    };
    // BullMQ ignores an add whose jobId exists: that is the duplicate guard.
    await this.queue.add(event, data, {
      jobId: deliveryId,
      attempts: this.opts.attempts,
      backoff: { type: 'exponential', delay: this.opts.backoffMs, jitter: this.opts.backoffJitter },
      removeOnComplete: { age: this.opts.keepDeliveredSec },
      removeOnFail: { age: this.opts.keepFailedSec },
    });
    return deliveryId;
  }

  /** Closes the queue; the shared Redis connection stays open (its owner closes it). Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.queue.close().catch(() => {});
    return this.closing;
  }
}
