/** How a finished (or unfinished) job reads as an Ollama HTTP error, shared by the Ollama routes. */
import type { JobRecord } from '../../protocol/job.ts';
import { HttpError } from '../http/http-error.ts';

/** Job error codes that mean the request itself was bad. */
const CALLER_ERRORS = new Set(['context_length_exceeded', 'invalid_request', 'model_not_found']);

export function failureOf(rec: JobRecord | null): HttpError | null {
  // A job still queued or running when the wait ended is a timeout, like no record at all.
  if (!rec || rec.status === 'queued' || rec.status === 'running') return new HttpError(504, 'timeout', 'timed out waiting for the job');
  if (rec.status === 'succeeded') return null;
  const message = rec.error?.message ?? `job ${rec.status}`;
  // The caller's input was at fault (found only at the worker): a 4xx, as Ollama answers it.
  if (rec.error && CALLER_ERRORS.has(rec.error.code))
    return new HttpError(rec.error.code === 'model_not_found' ? 404 : 400, rec.error.code, message);
  return new HttpError(rec.status === 'timed_out' ? 504 : rec.status === 'canceled' ? 499 : 500, rec.status, message);
}
