/** How a finished (or unfinished) job reads as an Ollama HTTP error, shared by the Ollama routes. */
import type { JobRecord } from '../../protocol/job.ts';
import { callerError } from '../../protocol/errors.ts';
import { HttpError } from '../http/http-error.ts';

export function failureOf(rec: JobRecord | null): HttpError | null {
  // A job still queued or running when the wait ended is a timeout, like no record at all.
  if (!rec || rec.status === 'queued' || rec.status === 'running') return new HttpError(504, 'timeout', 'timed out waiting for the job');
  if (rec.status === 'succeeded') return null;
  const message = rec.error?.message ?? `job ${rec.status}`;
  // The caller's input was at fault (found only at the worker): a 4xx, as Ollama answers it.
  const caller = callerError(rec.error?.code);
  if (caller) return new HttpError(caller.status, caller.code, message);
  return new HttpError(rec.status === 'timed_out' ? 504 : rec.status === 'canceled' ? 499 : 500, rec.status, message);
}
