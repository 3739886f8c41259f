/**
 * The one place the Messages routes hand work to the job service: a Messages request becomes a
 * chat job like any other (its model's queue, tenant limits, usage, backpressure, cancel).
 */
import type { ConversationEvent } from '../../protocol/conversation.ts';
import type { JobRecord } from '../../protocol/job.ts';
import { forcedTools } from '../../protocol/tools.ts';
import type { JobStore } from '../../store/job-store.ts';
import type { EventHub } from '../jobs/event-hub.ts';
import { followConversation } from '../jobs/job-follower.ts';
import { FeatureRefusedHttpError, ToolsRefusedHttpError } from '../http/http-error.ts';
import { invalidRequest } from './errors.ts';
import type { JobService, SubmitResult } from '../jobs/job-service.ts';
import type { MessagesJob } from './requests.ts';

export interface BridgeDeps {
  jobs: JobService;
  store: JobStore;
  hub: EventHub;
}

/** Submits a Messages request as a chat job; throws the service's HttpError when refused (404, 429, 503...). */
export async function submitMessagesJob(d: BridgeDeps, tenant: string, job: MessagesJob, o: { waitMs?: number; signal?: AbortSignal } = {}): Promise<SubmitResult> {
  try {
    return await d.jobs.submit({
      tenant,
      body: { model: job.model, task: 'chat', input: job.input, priority: 'normal' },
      model: job.model,
      task: 'chat',
      waitMs: o.waitMs ?? 0,
      signal: o.signal,
    });
  } catch (err) {
    // What the model's engine cannot serve, named by its field in the Messages request.
    if (err instanceof ToolsRefusedHttpError || err instanceof FeatureRefusedHttpError) throw invalidRequest(`${MESSAGES_FIELD[err.param] ?? err.param}: ${err.message}`);
    throw err;
  }
}

/** The Messages field a job field refused at submit came from. */
const MESSAGES_FIELD: Record<string, string> = { tools: 'tools', tool_choice: 'tool_choice', think: 'thinking', images: 'messages' };

/** Cancels a job nobody waits for any more; a job already finished is left as it is. */
export async function cancelQuietly(d: BridgeDeps, id: string): Promise<void> {
  await d.jobs.cancel('*', id).catch(() => undefined);
}

/** Follows a job's canonical events to its end; null when the wait ran out or `signal` aborted first. */
export function followEvents(d: BridgeDeps, job: MessagesJob, id: string, onEvent: (ev: ConversationEvent) => void, timeoutMs: number, signal?: AbortSignal): Promise<JobRecord | null> {
  return followConversation(d, id, onEvent, { timeoutMs, signal, forcedToolCall: forcedTools(job.input) !== null });
}
