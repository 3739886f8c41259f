/**
 * Messages API response bodies and stream events built from a job (pure). The job's output does
 * not say which stop sequence ended it (the engines cut the text before it and report only
 * `stop`), so `stop_sequence` stays null and an answer cut by one reads `end_turn`.
 */
import type { JobRecord } from '../../protocol/job.ts';
import { HttpError } from '../http/http-error.ts';
import { anthropicErrorBody } from './errors.ts';

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence';

/** The Messages id of a job's answer: the job id with Anthropic's prefix, so one maps to the other. */
export const messageId = (jobId: string) => `msg_${jobId}`;

/** `max_tokens` when the token limit cut the answer, else `end_turn`. */
export function stopReason(rec: Pick<JobRecord, 'output'>): StopReason {
  return rec.output?.done_reason === 'length' ? 'max_tokens' : 'end_turn';
}

export function usageOf(rec: Pick<JobRecord, 'usage'>) {
  return { input_tokens: rec.usage?.prompt_tokens ?? 0, output_tokens: rec.usage?.completion_tokens ?? 0 };
}

/** The `message` object of a succeeded job. */
export function messageBody(rec: JobRecord) {
  return {
    id: messageId(rec.id),
    type: 'message' as const,
    role: 'assistant' as const,
    model: rec.model,
    content: [{ type: 'text' as const, text: rec.output?.message?.content ?? '' }],
    stop_reason: stopReason(rec),
    stop_sequence: null,
    usage: usageOf(rec),
  };
}

/** The error a job that did not succeed answers with (null: it succeeded). */
export function jobFailure(rec: JobRecord | null): HttpError | null {
  if (!rec) return new HttpError(504, 'timeout', 'the job did not finish within the wait limit; it was canceled');
  switch (rec.status) {
    case 'succeeded':
      return null;
    case 'failed': {
      const code = rec.error?.code ?? 'job_failed';
      const bad = code === 'invalid_request' || code === 'context_length_exceeded';
      return new HttpError(bad ? 400 : 500, code, rec.error?.message ?? 'the job failed');
    }
    case 'timed_out':
      return new HttpError(504, 'job_timed_out', rec.error?.message ?? 'the job ran past its execution timeout');
    case 'expired':
      return new HttpError(503, 'job_expired', 'the job waited past its deadline before it could start', { 'retry-after': '1' });
    case 'canceled':
      return new HttpError(409, 'job_canceled', 'the job was canceled');
    default:
      return new HttpError(500, 'job_unfinished', `the job is ${rec.status}`);
  }
}

/** One server-sent event with Anthropic's `event:` line; `data.type` repeats the event's name. */
export function sseEvent(data: { type: string }): string {
  return `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** `message_start`: the message with no content yet; input tokens are the prompt's lower bound until the job reports its count. */
export function messageStart(job: { id: string; model: string }, inputTokensAtLeast: number) {
  return {
    type: 'message_start' as const,
    message: { id: messageId(job.id), type: 'message', role: 'assistant', model: job.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: inputTokensAtLeast, output_tokens: 0 } },
  };
}

export const contentBlockStart = () => ({ type: 'content_block_start' as const, index: 0, content_block: { type: 'text', text: '' } });
export const ping = () => ({ type: 'ping' as const });
export const textDelta = (text: string) => ({ type: 'content_block_delta' as const, index: 0, delta: { type: 'text_delta', text } });
export const contentBlockStop = () => ({ type: 'content_block_stop' as const, index: 0 });

/** `message_delta`: why the message stopped and the job's token counts (input included: the real count replaces the estimate). */
export function messageDelta(rec: JobRecord) {
  return { type: 'message_delta' as const, delta: { stop_reason: stopReason(rec), stop_sequence: null }, usage: usageOf(rec) };
}

export const messageStop = () => ({ type: 'message_stop' as const });

/** `event: error` payload for a failure after the stream has started (the SDK raises on it). */
export const streamError = (err: HttpError) => anthropicErrorBody(err);
