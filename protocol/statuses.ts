/**
 * Client-visible job statuses and the one place BullMQ states map onto them. The statuses and
 * webhook event names are spelled once, in the client package (client/src/statuses.ts), as the
 * error codes are.
 */
import { JOB_STATUSES, TERMINAL_STATUSES as TERMINAL_STATUS_LIST, WEBHOOK_EVENTS, type JobStatus, type WebhookEventType } from '../client/src/statuses.ts';

export { JOB_STATUSES, WEBHOOK_EVENTS, type JobStatus };

/** Statuses stored on a job record; `loading_model` is derived at read time from residency. */
export type StoredStatus = Exclude<JobStatus, 'loading_model'>;

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(TERMINAL_STATUS_LIST);

/** Statuses from which `POST /v1/jobs/:id/retry` may run a job again. */
export const RETRYABLE_STATUSES: ReadonlySet<JobStatus> = new Set(['failed', 'timed_out', 'expired', 'canceled']);

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

/**
 * The status a client sees: the stored one, except that a queued job whose model is being
 * loaded somewhere reads `loading_model`.
 */
export function visibleStatus(stored: StoredStatus, modelLoading: boolean): JobStatus {
  return stored === 'queued' && modelLoading ? 'loading_model' : stored;
}

export type WebhookEvent = WebhookEventType;

/** The webhook event a transition into `status` fires, if any. */
export function webhookEventFor(status: JobStatus): WebhookEvent | undefined {
  switch (status) {
    case 'running':
      return 'job.started';
    case 'succeeded':
      return 'job.completed';
    case 'failed':
    case 'timed_out':
      return 'job.failed';
    case 'canceled':
      return 'job.canceled';
    case 'expired':
      return 'job.expired';
    default:
      return undefined;
  }
}
