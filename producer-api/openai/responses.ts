/**
 * OpenAI response bodies built from a finished job (pure). The synchronous routes, the
 * streaming routes and the Batch API's output lines all use these, so a batch line's `body`
 * is exactly what the same request would have answered online.
 */
import type { JobRecord, Task } from '../../protocol/job.ts';
import { callerError } from '../../protocol/errors.ts';
import { OpenAiError, openAiErrorBody } from './errors.ts';
import { chatLogprobs, completionLogprobs } from './logprobs.ts';
import type { EncodingFormat } from './requests.ts';

/** Stands in for OpenAI's `system_fingerprint`: which server produced the answer. */
export const SYSTEM_FINGERPRINT = 'inference-fabric';

const ID_PREFIX: Record<Task, string> = { chat: 'chatcmpl-', generate: 'cmpl-', embed: 'embd-' };

/** The OpenAI object id of a job's answer: the job id with OpenAI's prefix, so one maps to the other. */
export const responseId = (task: Task, jobId: string) => `${ID_PREFIX[task]}${jobId}`;

export const unixSeconds = (ms: number) => Math.floor(ms / 1000);

/** OpenAI's `finish_reason`: `length` when the token limit cut the answer, else `stop`. */
export function finishReason(rec: Pick<JobRecord, 'output'>): FinishReason {
  const r = rec.output?.done_reason;
  return r === 'length' ? 'length' : r === 'tool_calls' && rec.output?.message?.tool_calls?.length ? 'tool_calls' : 'stop';
}

export type FinishReason = 'stop' | 'length' | 'tool_calls';

/**
 * The assistant message of a chat answer: `content` null when the answer is only calls, as
 * OpenAI answers it; the reasoning, when there is some, in `reasoning_content` (as vLLM and
 * DeepSeek put it).
 */
function chatMessage(rec: JobRecord) {
  const m = rec.output?.message;
  const calls = m?.tool_calls;
  const reasoning = m?.thinking ? { reasoning_content: m.thinking } : {};
  if (calls?.length) return { role: 'assistant', content: text(rec) || null, refusal: null, ...reasoning, tool_calls: calls };
  return { role: 'assistant', content: text(rec), refusal: null, ...reasoning };
}

/** The `logprobs` of a choice: null unless the job asked for them. */
function choiceLogprobs(rec: JobRecord) {
  const lps = rec.output?.logprobs;
  if (!rec.input.logprobs || !lps) return null;
  return rec.task === 'chat' ? chatLogprobs(lps) : completionLogprobs(lps);
}

export function usageOf(rec: Pick<JobRecord, 'usage'>) {
  const prompt = rec.usage?.prompt_tokens ?? 0;
  const completion = rec.usage?.completion_tokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function text(rec: JobRecord): string {
  return rec.output?.message?.content ?? rec.output?.response ?? '';
}

/** float32 little-endian, base64: what the SDKs decode when they ask for `encoding_format: base64`. */
export function encodeEmbedding(vector: number[], format: EncodingFormat): number[] | string {
  if (format === 'float') return vector;
  const buf = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  return buf.toString('base64');
}

/** The full response body of a succeeded job, in the shape of the endpoint that asked for it. */
export function responseBody(rec: JobRecord, encodingFormat: EncodingFormat = 'float') {
  const created = unixSeconds(rec.finishedAt ?? rec.createdAt);
  const base = { id: responseId(rec.task, rec.id), created, model: rec.model, system_fingerprint: SYSTEM_FINGERPRINT };
  if (rec.task === 'chat') {
    return {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message: chatMessage(rec), logprobs: choiceLogprobs(rec), finish_reason: finishReason(rec) }],
      usage: usageOf(rec),
    };
  }
  if (rec.task === 'generate') {
    const finish = finishReason(rec);
    return { ...base, object: 'text_completion', choices: [{ index: 0, text: text(rec), logprobs: choiceLogprobs(rec), finish_reason: finish === 'tool_calls' ? 'stop' : finish }], usage: usageOf(rec) };
  }
  const prompt = rec.usage?.prompt_tokens ?? 0;
  return {
    object: 'list',
    data: (rec.output?.embeddings ?? []).map((v, index) => ({ object: 'embedding', index, embedding: encodeEmbedding(v, encodingFormat) })),
    model: rec.model,
    usage: { prompt_tokens: prompt, total_tokens: prompt },
  };
}

/** The request parameter a caller error names, as OpenAI does (`messages` for an over-long chat). */
export function callerParam(code: string, task: Task | undefined): string | null {
  if (code === 'context_length_exceeded') return task === 'chat' ? 'messages' : task === 'embed' ? 'input' : 'prompt';
  if (code === 'model_not_found') return 'model';
  return null;
}

/**
 * The error a finished job that did not succeed answers with. `x-should-retry` follows the
 * job's own error: a retryable engine failure may be retried, a final one must not be.
 */
export function jobFailure(rec: JobRecord | null): OpenAiError | null {
  if (!rec) return new OpenAiError(504, 'timeout', 'the job did not finish within the wait limit; it was canceled', null, false);
  switch (rec.status) {
    case 'succeeded':
      return null;
    case 'failed': {
      // The caller's input was at fault (found only at the worker): the 4xx a refusal at submit gives.
      const caller = callerError(rec.error?.code);
      if (caller) return new OpenAiError(caller.status, caller.code, rec.error!.message, callerParam(caller.code, rec.task), false);
      return new OpenAiError(500, rec.error?.code ?? 'job_failed', rec.error?.message ?? 'the job failed', null, rec.error?.retryable ?? false);
    }
    case 'timed_out':
      return new OpenAiError(504, 'job_timed_out', rec.error?.message ?? 'the job ran past its execution timeout', null, false);
    case 'expired':
      return new OpenAiError(503, 'job_expired', 'the job waited past its deadline before it could start', null, true, { 'Retry-After': '1' });
    case 'canceled':
      return new OpenAiError(409, 'job_canceled', 'the job was canceled', null, false);
    default:
      return new OpenAiError(500, 'job_unfinished', `the job is ${rec.status}`, null, true);
  }
}

/** `data: {"error": ...}` payload for an error after a stream has started (the SDKs raise on it). */
export const streamError = (err: OpenAiError) => openAiErrorBody(err);

/** What one streamed chunk carries: text, reasoning, one tool-call fragment, the logprobs of the answer, or the finish reason. */
export interface ChunkPiece {
  content?: string;
  role?: boolean;
  reasoning?: string;
  toolCall?: object;
  logprobs?: object;
  finish?: FinishReason;
}

/** A streaming chunk, in the endpoint's chunk shape. */
export function streamChunk(job: { id: string; task: Task; model: string; created: number }, piece: ChunkPiece, includeUsage: boolean) {
  const base = { id: responseId(job.task, job.id), created: job.created, model: job.model, system_fingerprint: SYSTEM_FINGERPRINT };
  const usage = includeUsage ? { usage: null } : {};
  const logprobs = piece.logprobs ?? null;
  if (job.task === 'chat') {
    let delta: object = {};
    if (piece.toolCall) delta = { tool_calls: [piece.toolCall] };
    else if (piece.reasoning !== undefined) delta = { reasoning_content: piece.reasoning };
    else if (piece.content !== undefined || piece.role) delta = { ...(piece.role ? { role: 'assistant' } : {}), content: piece.content ?? '' };
    return { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs, finish_reason: piece.finish ?? null }], ...usage };
  }
  return { ...base, object: 'text_completion', choices: [{ index: 0, text: piece.content ?? '', logprobs, finish_reason: piece.finish ?? null }], ...usage };
}

/** The logprobs chunk of a finished job that asked for them (null otherwise): sent once, before the finish. */
export function logprobsPiece(rec: JobRecord): ChunkPiece | null {
  const lp = choiceLogprobs(rec);
  return lp ? { logprobs: lp } : null;
}

/** The extra chunk `stream_options.include_usage` asks for: no choices, the totals. */
export function usageChunk(job: { id: string; task: Task; model: string; created: number }, rec: JobRecord) {
  const object = job.task === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  return { id: responseId(job.task, job.id), object, created: job.created, model: job.model, system_fingerprint: SYSTEM_FINGERPRINT, choices: [], usage: usageOf(rec) };
}
