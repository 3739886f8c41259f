/**
 * Messages API response bodies and stream events built from a job (pure). The content is the
 * job's reasoning as a `thinking` block, its text as a `text` block and each tool call as a
 * `tool_use` block, in that order. The stop reason: `tool_use` when the answer is calls,
 * `max_tokens` when the token limit cut it, `stop_sequence` (naming it) when the job's output
 * says which stop sequence ended it, else `end_turn`.
 */
import type { JobRecord } from '../../protocol/job.ts';
import type { ToolCall } from '../../protocol/tools.ts';
import { HttpError } from '../http/http-error.ts';
import { anthropicErrorBody } from './errors.ts';

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use';

/** The Messages id of a job's answer: the job id with Anthropic's prefix, so one maps to the other. */
export const messageId = (jobId: string) => `msg_${jobId}`;

/** Why the answer stopped, and the stop sequence that ended it (null when none did). */
export function stopOf(rec: Pick<JobRecord, 'output'>): { stop_reason: StopReason; stop_sequence: string | null } {
  const out = rec.output;
  if (out?.message?.tool_calls?.length) return { stop_reason: 'tool_use', stop_sequence: null };
  if (out?.done_reason === 'length') return { stop_reason: 'max_tokens', stop_sequence: null };
  if (out?.stop_sequence !== undefined) return { stop_reason: 'stop_sequence', stop_sequence: out.stop_sequence };
  return { stop_reason: 'end_turn', stop_sequence: null };
}

export function usageOf(rec: Pick<JobRecord, 'usage'>) {
  return { input_tokens: rec.usage?.prompt_tokens ?? 0, output_tokens: rec.usage?.completion_tokens ?? 0 };
}

/** A call's arguments as the object a `tool_use` block holds. */
export function callInput(call: ToolCall): Record<string, unknown> {
  try {
    const v = JSON.parse(call.function.arguments) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The content blocks of a succeeded job: thinking, text (also when empty and nothing else answers), tool uses. */
export function contentBlocks(rec: JobRecord) {
  const m = rec.output?.message;
  const calls = m?.tool_calls ?? [];
  const text = m?.content ?? '';
  const blocks: object[] = [];
  if (m?.thinking) blocks.push({ type: 'thinking', thinking: m.thinking, signature: '' });
  if (text !== '' || calls.length === 0) blocks.push({ type: 'text', text });
  for (const c of calls) blocks.push({ type: 'tool_use', id: c.id, name: c.function.name, input: callInput(c) });
  return blocks;
}

/** The `message` object of a succeeded job. */
export function messageBody(rec: JobRecord) {
  return {
    id: messageId(rec.id),
    type: 'message' as const,
    role: 'assistant' as const,
    model: rec.model,
    content: contentBlocks(rec),
    ...stopOf(rec),
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

export const ping = () => ({ type: 'ping' as const });

/** `message_delta`: why the message stopped and the job's token counts (input included: the real count replaces the estimate). */
export function messageDelta(rec: JobRecord) {
  return { type: 'message_delta' as const, delta: stopOf(rec), usage: usageOf(rec) };
}

export const messageStop = () => ({ type: 'message_stop' as const });

/** `event: error` payload for a failure after the stream has started (the SDK raises on it). */
export const streamError = (err: HttpError) => anthropicErrorBody(err);
