/**
 * The response object (`object: "response"`) built from a response's record and its job. Pure.
 * Output item ids derive from the job id, so every API process renders, and streams, the same
 * ids for the same job.
 */
import type { JobOutput, JobRecord } from '../../protocol/job.ts';
import type { JobStatus } from '../../protocol/statuses.ts';
import type { ConversationItem, FunctionCallItem, MessageItem, ReasoningItem } from './items.ts';
import type { ResponseParams } from './requests.ts';
import { tokenLogprobs } from '../openai/logprobs.ts';

/** What the API keeps of a response (in Redis when stored): the request, its items and, once ended, the result. */
export interface ResponseRecord {
  id: string;
  jobId: string;
  tenant: string;
  model: string;
  /** Epoch ms. */
  createdAt: number;
  params: ResponseParams;
  forced: boolean;
  /** This request's input items. */
  input: ConversationItem[];
  /** The conversation before `input` (a previous response's history, input and output). */
  history: ConversationItem[];
  result: ResponseResult | null;
}

export type ResponseStatus = 'queued' | 'in_progress' | 'completed' | 'incomplete' | 'failed' | 'cancelled';

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** A response's end, from its job's. */
export interface ResponseResult {
  status: Exclude<ResponseStatus, 'queued' | 'in_progress'>;
  output: ConversationItem[];
  usage: ResponseUsage | null;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' } | null;
  /** Epoch ms. */
  completedAt: number | null;
}

export const RESPONSE_ID_PREFIX = 'resp_';

/** The response id of a job: the job id with OpenAI's prefix, so one maps to the other. */
export const responseIdOf = (jobId: string) => `${RESPONSE_ID_PREFIX}${jobId}`;

/** The job id a response id names, or null when it is not one. */
export function jobIdOf(responseId: string): string | null {
  return responseId.startsWith(RESPONSE_ID_PREFIX) && responseId.length > RESPONSE_ID_PREFIX.length && responseId.length <= 200 ? responseId.slice(RESPONSE_ID_PREFIX.length) : null;
}

/** Ids of a job's output items (the same in the stream, the response and the input items of a follow-up). */
export const outputIds = {
  reasoning: (jobId: string) => `rs_${jobId}`,
  message: (jobId: string) => `msg_${jobId}`,
  call: (jobId: string, index: number) => `fc_${jobId}_${index}`,
};

/**
 * A job output's items: the reasoning (when the output has some), the message (when it has
 * text, or nothing else), then the calls. A forced call's text is the call itself, so it shows
 * no message. The message's output text carries the job's log probabilities when it has them.
 */
export function outputItems(jobId: string, output: JobOutput | null, forced: boolean): ConversationItem[] {
  const cut = output?.done_reason === 'length';
  const items: ConversationItem[] = [];
  const thinking = output?.message?.thinking ?? output?.thinking ?? '';
  if (thinking) items.push({ type: 'reasoning', id: outputIds.reasoning(jobId), summary: [{ type: 'summary_text', text: thinking }] } satisfies ReasoningItem);
  const calls = output?.message?.tool_calls ?? [];
  const text = output?.message?.content ?? output?.response ?? '';
  if (calls.length === 0 || (!forced && text !== '')) {
    // The token limit cut the message when it is the last item (no calls after it).
    const status = cut && calls.length === 0 ? 'incomplete' : 'completed';
    const logprobs = output?.logprobs ? { logprobs: tokenLogprobs(output.logprobs) } : {};
    items.push({ type: 'message', id: outputIds.message(jobId), role: 'assistant', status, content: [{ type: 'output_text', text, annotations: [], ...logprobs }] } satisfies MessageItem);
  }
  calls.forEach((c, i) => items.push({ type: 'function_call', id: outputIds.call(jobId, i), call_id: c.id, name: c.function.name, arguments: c.function.arguments, status: 'completed' } satisfies FunctionCallItem));
  return items;
}

export function usageOf(rec: Pick<JobRecord, 'usage'>): ResponseUsage {
  const input = rec.usage?.prompt_tokens ?? 0;
  const output = rec.usage?.completion_tokens ?? 0;
  return { input_tokens: input, input_tokens_details: { cached_tokens: 0 }, output_tokens: output, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: input + output };
}

/** The result of a response whose job ended (`job` null: its record is gone). */
export function resultOf(r: Pick<ResponseRecord, 'jobId' | 'forced'>, job: JobRecord | null, now = Date.now()): ResponseResult {
  const base = { output: [] as ConversationItem[], usage: null, error: null, incomplete_details: null, completedAt: job?.finishedAt ?? now };
  if (!job) return { ...base, status: 'failed', error: { code: 'job_not_found', message: 'the job of this response is gone before its result was kept' } };
  switch (job.status) {
    case 'succeeded': {
      const cut = job.output?.done_reason === 'length';
      return { ...base, status: cut ? 'incomplete' : 'completed', output: outputItems(r.jobId, job.output, r.forced), usage: usageOf(job), incomplete_details: cut ? { reason: 'max_output_tokens' } : null };
    }
    case 'canceled':
      return { ...base, status: 'cancelled', usage: job.usage ? usageOf(job) : null };
    case 'failed':
      return { ...base, status: 'failed', error: { code: job.error?.code ?? 'job_failed', message: job.error?.message ?? 'the job failed' } };
    case 'timed_out':
      return { ...base, status: 'failed', error: { code: 'job_timed_out', message: job.error?.message ?? 'the job ran past its execution timeout' } };
    case 'expired':
      return { ...base, status: 'failed', error: { code: 'job_expired', message: 'the job waited past its deadline before it could start' } };
    default:
      return { ...base, status: 'failed', error: { code: 'job_unfinished', message: `the job is ${job.status}` } };
  }
}

/** The status a response shows while its job has not ended. */
export function liveStatus(job: JobStatus | null): 'queued' | 'in_progress' {
  return job === 'running' ? 'in_progress' : 'queued';
}

/** The response object; `live` is the status shown while no result is kept. */
export function responseObject(r: ResponseRecord, live: 'queued' | 'in_progress' = 'queued') {
  const res = r.result;
  const p = r.params;
  return {
    id: r.id,
    object: 'response' as const,
    created_at: Math.floor(r.createdAt / 1000),
    status: res?.status ?? live,
    background: p.background,
    completed_at: res?.status === 'completed' && res.completedAt ? Math.floor(res.completedAt / 1000) : null,
    error: res?.error ?? null,
    incomplete_details: res?.incomplete_details ?? null,
    instructions: p.instructions,
    max_output_tokens: p.max_output_tokens,
    metadata: p.metadata,
    model: r.model,
    output: res?.output ?? [],
    parallel_tool_calls: p.parallel_tool_calls,
    previous_response_id: p.previous_response_id,
    reasoning: p.reasoning,
    store: p.store,
    temperature: p.temperature,
    text: p.text,
    tool_choice: p.tool_choice,
    tools: p.tools,
    top_p: p.top_p,
    top_logprobs: p.top_logprobs ?? null,
    truncation: 'disabled' as const,
    usage: res?.usage ?? null,
    user: p.user,
  };
}

export type ResponseObject = ReturnType<typeof responseObject>;
