/**
 * Every error code the fabric sends, and the few the client raises itself: the one list both
 * sides spell them from. The server types its HTTP errors and job errors with these unions
 * (protocol/error-codes.ts re-exports this file), so a new code is added here or does not compile.
 */

/** `code` of an `{error: {code, message}}` answer from the API. */
export const HTTP_ERROR_CODES = [
  // 400 / 413 / 415 / 422: bad input
  'bad_request',
  'invalid_request',
  'invalid_json',
  'invalid_input',
  'invalid_model_name',
  'invalid_idempotency_key',
  'idempotency_key_reused',
  'payload_too_large',
  'unsupported_media_type',
  'webhook_url_refused',
  'tools_unsupported',
  'feature_unsupported',
  'invalid_multipart',
  'empty_file',
  'file_too_large',
  'file_too_many_lines',
  'invalid_duration',
  'json_too_deep',
  'invalid_last_event_id',
  'context_length_exceeded',
  'invalid_days',
  // 401 / 403
  'unauthorized',
  'forbidden',
  // 404
  'route_not_found',
  'job_not_found',
  'model_not_found',
  'model_not_resident',
  'file_not_found',
  'batch_not_found',
  'response_not_found',
  // 409
  'idempotency_conflict',
  'job_finished',
  'job_not_retryable',
  'insufficient_vram',
  'no_worker_with_room',
  'file_in_use',
  'model_exists',
  'model_in_use',
  'batch_not_cancellable',
  'job_canceled',
  // 429: a tenant over one of its limits (with Retry-After and x-ratelimit-* headers)
  'rate_limited',
  'token_budget_exhausted',
  'too_many_waiting_jobs',
  // 503: overload and readiness (with Retry-After)
  'backlog_full',
  'queue_unavailable',
  'not_ready',
  'redis_unavailable',
  // 500 / 504
  'internal_error',
  'timeout',
  // Ollama-compatible routes: the job behind the answer ended without a result.
  'failed',
  'canceled',
  'expired',
  'timed_out',
  // OpenAI routes: the job behind the answer ended without a result (its own code when it has one).
  'job_failed',
  'job_unfinished',
  'job_expired',
  'job_timed_out',
  'engine_busy',
  'out_of_memory',
  'engine_unavailable',
  'aborted',
  'engine_error',
  'worker_shutdown',
  'insufficient_disk',
  'model_deleted',
  'pull_failed',
  // Batch output: the `error.code` of a line that did not run.
  'batch_cancelled',
  'batch_expired',
  'result_lost',
] as const;
export type HttpErrorCode = (typeof HTTP_ERROR_CODES)[number];

/** `job.error.code` of a job that failed, timed out or is being retried. */
export const JOB_ERROR_CODES = [
  'model_not_found',
  'context_length_exceeded',
  'engine_busy',
  'out_of_memory',
  'insufficient_vram',
  'insufficient_disk',
  'engine_unavailable',
  'invalid_request',
  'model_deleted',
  'aborted',
  'engine_error',
  'timed_out',
  'worker_shutdown',
  'internal_error',
] as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[number];

/** Raised by the client without an answer from the server. */
export const CLIENT_ERROR_CODES = [
  /** The connection failed or broke before an answer arrived. */
  'connection_error',
  /** The circuit breaker for this base URL is open: failing fast without a request. */
  'circuit_open',
  /** The caller's AbortSignal fired. */
  'aborted',
  /** A request ran past `timeoutMs` (also sent by the server when a wait ran out). */
  'timeout',
  /** The server answered something that is not the fabric's JSON. */
  'invalid_response',
] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/** Any code a `FabricError` can carry. */
export type ErrorCode = HttpErrorCode | JobErrorCode | ClientErrorCode;

const ALL: ReadonlySet<string> = new Set<string>([...HTTP_ERROR_CODES, ...JOB_ERROR_CODES, ...CLIENT_ERROR_CODES]);

/** True for a code in the union (a newer server may send one this client does not know). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && ALL.has(code);
}
