/**
 * Batch webhooks (`batch.completed`, `batch.failed`, `batch.expired`, `batch.cancelled`),
 * delivered, signed and retried by the same Standard Webhooks delivery worker as job events.
 * A batch asks for them with `metadata.webhook_url` (checked like a job's webhook URL).
 */
import { WEBHOOK_DISPATCHER_DEFAULTS, type WebhookDelivery, type WebhookDispatcher } from '../../store/webhook-enqueue.ts';
import type { WebhookEvent } from '../../protocol/statuses.ts';
import type { Logger } from '../../protocol/logger.ts';
import { batchView, type BatchRecord } from './batch-store.ts';

export const BATCH_WEBHOOK_FIELD = 'webhook_url';

export function batchWebhookNotifier(d: { dispatcher: WebhookDispatcher; log: Logger }): (b: BatchRecord) => Promise<void> {
  return async (b) => {
    const url = b.metadata?.[BATCH_WEBHOOK_FIELD];
    if (!url) return;
    const event = `batch.${b.status}`;
    const data: WebhookDelivery = {
      jobId: b.id,
      // The delivery worker treats the event as an opaque name; the job events' union does not list batch events.
      event: event as WebhookEvent,
      runNo: 1,
      url,
      body: JSON.stringify({ type: event, timestamp: new Date().toISOString(), data: batchView(b) }),
    };
    const o = WEBHOOK_DISPATCHER_DEFAULTS;
    try {
      // Dot-free id (it is the signed webhook-id); one delivery per batch and final status.
      await d.dispatcher.queue.add(event, data, { jobId: `${b.id}_${b.status}`, attempts: o.attempts, backoff: { type: 'exponential', delay: o.backoffMs, jitter: o.backoffJitter }, removeOnComplete: { age: o.keepDeliveredSec }, removeOnFail: { age: o.keepFailedSec } });
    } catch (err) {
      d.log.warn({ err, batchId: b.id, event }, 'Batch webhook enqueue failed');
    }
  };
}
