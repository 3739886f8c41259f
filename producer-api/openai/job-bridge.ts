/**
 * The one place the OpenAI routes and the Batch API hand work to the job service: an OpenAI
 * request becomes a job like any other (its model's queue, backpressure, metrics, cancel).
 */
import type { JobRecord, Priority, SubmitBody } from '../../protocol/job.ts';
import type { JobStore } from '../../store/job-store.ts';
import type { EventHub } from '../jobs/event-hub.ts';
import { followConversation } from '../jobs/job-follower.ts';
import type { ConversationEvent } from '../../protocol/conversation.ts';
import { forcedTools } from '../../protocol/tools.ts';
import type { JobService, SubmitResult } from '../jobs/job-service.ts';
import { FeatureRefusedHttpError, HttpError, SchemaRefusedHttpError, ToolsRefusedHttpError } from '../http/http-error.ts';
import { OpenAiError } from './errors.ts';
import { callerParam } from './responses.ts';
import type { OpenAiJob } from './requests.ts';

export interface BridgeDeps {
  jobs: JobService;
  store: JobStore;
  hub: EventHub;
}

export interface SubmitOptions {
  priority?: Priority;
  metadata?: Record<string, unknown>;
  idempotencyKey?: string;
  /** Wait up to this long for the job to finish (0: return at once). */
  waitMs?: number;
  signal?: AbortSignal;
}

/** The OpenAI parameter a job field refused at submit came from. */
const OPENAI_PARAM: Record<string, string> = { think: 'reasoning_effort', images: 'messages' };

/** Submits an OpenAI request as a job; throws the service's HttpError when refused (404, 503...). */
export async function submitOpenAiJob(d: BridgeDeps, tenant: string, job: OpenAiJob, o: SubmitOptions = {}): Promise<SubmitResult> {
  const body: SubmitBody = { model: job.model, task: job.task, input: job.input, priority: o.priority ?? 'normal', ...(o.metadata ? { metadata: o.metadata } : {}) };
  try {
    return await d.jobs.submit({ tenant, body, model: job.model, task: job.task, idempotencyKey: o.idempotencyKey, waitMs: o.waitMs ?? 0, signal: o.signal });
  } catch (err) {
    // The schema came in as response_format: name that parameter, as OpenAI does.
    if (err instanceof ToolsRefusedHttpError || err instanceof FeatureRefusedHttpError) throw OpenAiError.invalid(err.message, OPENAI_PARAM[err.param] ?? err.param);
    if (err instanceof SchemaRefusedHttpError) throw OpenAiError.invalid(err.message, 'response_format');
    // Refused at submit as the worker would refuse it: the same error, naming the same parameter.
    if (err instanceof HttpError && !(err instanceof OpenAiError) && err.code === 'context_length_exceeded') {
      throw new OpenAiError(err.status, err.code, err.message, callerParam(err.code, job.task), false);
    }
    throw err;
  }
}

/** Cancels a job nobody waits for any more; a job already finished is left as it is. */
export async function cancelQuietly(d: BridgeDeps, id: string): Promise<void> {
  await d.jobs.cancel('*', id).catch(() => undefined);
}

/** Follows a job's canonical events to its end; null when the wait ran out or `signal` aborted first. */
export function followEvents(d: BridgeDeps, job: OpenAiJob, id: string, onEvent: (ev: ConversationEvent) => void, timeoutMs: number, signal?: AbortSignal): Promise<JobRecord | null> {
  return followConversation(d, id, onEvent, { timeoutMs, signal, forcedToolCall: job.task === 'chat' && forcedTools(job.input) !== null });
}
