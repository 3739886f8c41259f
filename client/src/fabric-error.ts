/** The one error type the client throws: what failed, and whether trying again can help. */
import type { ErrorCode } from './error-codes.ts';

export interface FabricErrorInit {
  status: number | null;
  code: ErrorCode;
  message: string;
  retryable: boolean;
  retryAfterMs?: number | null;
  jobId?: string | null;
  cause?: unknown;
}

export class FabricError extends Error {
  override readonly name = 'FabricError';
  /** HTTP status, or null when no answer arrived (connection error, open circuit, abort, timeout). */
  readonly status: number | null;
  /** The server's `error.code` (or the job's `error.code`), or the client's own code. */
  readonly code: ErrorCode;
  /** True when the same call may succeed later (overload, connection, 5xx, open circuit). */
  readonly retryable: boolean;
  /** How long the server (or the open circuit) asks to wait before trying again. */
  readonly retryAfterMs: number | null;
  /** The job concerned, when known. */
  readonly jobId: string | null;

  constructor(init: FabricErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.retryable = init.retryable;
    this.retryAfterMs = init.retryAfterMs ?? null;
    this.jobId = init.jobId ?? null;
  }
}

/** Statuses worth retrying: timeout, rate limit, server errors and overload. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Codes that are retryable whatever their status (the server says "retry shortly"). */
const RETRYABLE_CODES: ReadonlySet<string> = new Set(['idempotency_conflict']);

/** Builds the error for a non-2xx answer from its status, body and headers. */
export function errorFromResponse(status: number, body: unknown, headers: Headers, jobId?: string): FabricError {
  const err = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof err?.code === 'string' ? (err.code as ErrorCode) : status >= 500 ? 'internal_error' : 'bad_request';
  const message = typeof err?.message === 'string' ? err.message : `HTTP ${status}`;
  return new FabricError({
    status,
    code,
    message,
    retryable: retryableStatus(status) || RETRYABLE_CODES.has(code),
    retryAfterMs: retryAfterMs(headers),
    jobId,
  });
}

/** `retry-after-ms` (milliseconds) or `Retry-After` (seconds or an HTTP date), as milliseconds. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | null {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.round(Number(ms));
  const value = headers.get('retry-after');
  if (value === null) return null;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

export function isFabricError(err: unknown): err is FabricError {
  return err instanceof FabricError;
}
