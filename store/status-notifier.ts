/** Turns status changes into webhook deliveries (when the job asked for that event). */
import { jobView, type StatusListener } from '../protocol/job.ts';
import type { JobStore } from './job-store.ts';
import type { Logger } from '../protocol/logger.ts';
import { webhookEventFor } from '../protocol/statuses.ts';
import { wantsEvent, type WebhookDispatcher } from './webhook-enqueue.ts';

export function createStatusNotifier(d: { store: JobStore; dispatcher: WebhookDispatcher; log: Logger }): StatusListener {
  return async (job, status) => {
    const event = webhookEventFor(status);
    if (!event || !wantsEvent(job.webhook, event)) return;
    try {
      const record = await d.store.get(job.id);
      if (!record) return;
      await d.dispatcher.enqueue({ id: job.id, webhook: job.webhook }, event, jobView(record, status), job.run + 1);
    } catch (err) {
      // A webhook that cannot be queued must not fail the job; the job record still has the result.
      d.log.warn({ err, jobId: job.id, event }, 'Webhook enqueue failed');
    }
  };
}
