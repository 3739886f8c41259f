/**
 * The one place the Messages routes hand work to the job service: a Messages request becomes a
 * chat job like any other (its model's queue, tenant limits, usage, backpressure, cancel).
 */
import type { JobRecord } from '../../protocol/job.ts';
import type { JobStore } from '../../store/job-store.ts';
import type { EventHub } from '../jobs/event-hub.ts';
import { followTokens as followJobTokens } from '../jobs/job-follower.ts';
import type { JobService, SubmitResult } from '../jobs/job-service.ts';
import type { MessagesJob } from './requests.ts';

export interface BridgeDeps {
  jobs: JobService;
  store: JobStore;
  hub: EventHub;
}

/** Submits a Messages request as a chat job; throws the service's HttpError when refused (404, 429, 503...). */
export function submitMessagesJob(d: BridgeDeps, tenant: string, job: MessagesJob, o: { waitMs?: number; signal?: AbortSignal } = {}): Promise<SubmitResult> {
  return d.jobs.submit({
    tenant,
    body: { model: job.model, task: 'chat', input: job.input, priority: 'normal' },
    model: job.model,
    task: 'chat',
    waitMs: o.waitMs ?? 0,
    signal: o.signal,
  });
}

/** Cancels a job nobody waits for any more; a job already finished is left as it is. */
export async function cancelQuietly(d: BridgeDeps, id: string): Promise<void> {
  await d.jobs.cancel('*', id).catch(() => undefined);
}

/** Follows a job's tokens to its end; null when the wait ran out or `signal` aborted first. */
export function followTokens(d: BridgeDeps, id: string, onToken: (text: string) => void, timeoutMs: number, signal?: AbortSignal): Promise<JobRecord | null> {
  return followJobTokens(d, id, onToken, { timeoutMs, signal });
}
