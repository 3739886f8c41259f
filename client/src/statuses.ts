/**
 * Job statuses and webhook event names: the one list both sides spell them from. The client
 * package owns it (it must stand alone); the server uses it through protocol/statuses.ts, as it
 * does the error codes (error-codes.ts).
 */

/** Every status a client sees, in lifecycle order. */
export const JOB_STATUSES = ['queued', 'loading_model', 'running', 'succeeded', 'failed', 'canceled', 'timed_out', 'expired'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** The statuses a job ends in. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled', 'timed_out', 'expired'];

/** The webhook events a job fires (a job's `webhook.events` filters them). */
export const WEBHOOK_EVENTS = ['job.started', 'job.completed', 'job.failed', 'job.canceled', 'job.expired'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];
