import type { HttpErrorCode } from '../../protocol/error-codes.js';

/** The one HTTP error type; the final error handler turns it into `{error:{code,message}}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: HttpErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (code: HttpErrorCode, message: string) => new HttpError(400, code, message);
export const notFound = (code: HttpErrorCode, message: string) => new HttpError(404, code, message);
export const conflict = (code: HttpErrorCode, message: string) => new HttpError(409, code, message);
export const unavailable = (code: HttpErrorCode, message: string, retryAfterSec: number) =>
  new HttpError(503, code, message, { 'Retry-After': String(retryAfterSec) });
