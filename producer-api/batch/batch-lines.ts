/**
 * Batch input and output lines (pure). Input: `{"custom_id","method":"POST","url","body"}`,
 * validated with the same parsers as the online routes. Output and error lines use OpenAI's
 * format `{"id","custom_id","response":{"status_code","request_id","body"},"error"}`.
 */
import type { JobRecord } from '../../protocol/job.ts';
import { OpenAiError, openAiErrorBody } from '../openai/errors.ts';
import { PARSERS, type OpenAiEndpoint, type OpenAiJob } from '../openai/requests.ts';
import { jobFailure, responseBody } from '../openai/responses.ts';
import type { BatchLineError } from './batch-store.ts';

export type ParsedLine = { customId: string; job: OpenAiJob } | { error: BatchLineError };

const lineError = (line: number, code: string, message: string, param: string | null = null) => ({ error: { code, message, param, line } });

/**
 * One input line (`line` counts from 1, as OpenAI reports it). `knownModel` says whether the
 * catalog has the model; `seen` holds the custom_ids of earlier lines.
 */
export function parseLine(raw: string, line: number, endpoint: OpenAiEndpoint, knownModel: (m: string) => boolean, seen: Set<string>): ParsedLine {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return lineError(line, 'invalid_json_line', 'This line is not parseable as valid JSON.');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return lineError(line, 'invalid_request', 'Each line must be a JSON object.');
  const o = v as Record<string, unknown>;
  if (typeof o.custom_id !== 'string' || o.custom_id === '') return lineError(line, 'missing_required_parameter', 'custom_id must be a non-empty string.', 'custom_id');
  if (seen.has(o.custom_id)) return lineError(line, 'duplicate_custom_id', `The custom_id ${JSON.stringify(o.custom_id)} appears on an earlier line; custom_ids must be unique.`, 'custom_id');
  if (o.method !== 'POST') return lineError(line, 'invalid_method', 'method must be POST.', 'method');
  if (o.url !== endpoint) return lineError(line, 'mismatched_endpoint', `The url ${JSON.stringify(o.url)} does not match the batch endpoint ${endpoint}.`, 'url');
  let job: OpenAiJob;
  try {
    job = PARSERS[endpoint](o.body);
  } catch (err) {
    if (!(err instanceof OpenAiError)) throw err;
    return lineError(line, err.code, err.message, err.param ? `body.${err.param}` : 'body');
  }
  if (job.stream) return lineError(line, 'invalid_request', 'stream is not supported in a batch.', 'body.stream');
  if (!knownModel(job.model)) return lineError(line, 'model_not_found', `The model ${JSON.stringify(job.model)} is not available on any engine.`, 'body.model');
  seen.add(o.custom_id);
  return { customId: o.custom_id, job };
}

const requestId = (jobId: string) => `batch_req_${jobId.replace(/^job_/, '')}`;

/** The output-file line of a finished job, or its error-file line when it did not succeed. */
export function resultLine(customId: string, rec: JobRecord | null, encoding: 'float' | 'base64', jobId: string): { ok: boolean; text: string } {
  if (!rec) {
    return { ok: false, text: JSON.stringify({ id: requestId(jobId), custom_id: customId, response: null, error: { code: 'result_lost', message: 'The job finished but its result was no longer kept.' } }) };
  }
  const failure = jobFailure(rec);
  const response = failure ? { status_code: failure.status, request_id: rec.id, body: openAiErrorBody(failure) } : { status_code: 200, request_id: rec.id, body: responseBody(rec, encoding) };
  return { ok: !failure, text: JSON.stringify({ id: requestId(rec.id), custom_id: customId, response, error: null }) };
}

const STOPPED: Record<'expired' | 'cancelled', { code: string; message: string }> = {
  expired: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' },
  cancelled: { code: 'batch_cancelled', message: 'This request was not executed because the batch was cancelled.' },
};

/** The error-file line of a request the batch stopped before it ran (expiry or cancel). */
export function stoppedLine(customId: string, why: 'expired' | 'cancelled', jobId?: string): string {
  return JSON.stringify({ id: jobId ? requestId(jobId) : null, custom_id: customId, response: null, error: STOPPED[why] });
}

/** custom_id of a raw line already validated (used when writing off lines never submitted). */
export function customIdOf(raw: string): string {
  try {
    const v = JSON.parse(raw) as { custom_id?: unknown };
    return typeof v.custom_id === 'string' ? v.custom_id : '';
  } catch {
    return '';
  }
}
