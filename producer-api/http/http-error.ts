/** The one HTTP error type; the final error handler turns it into `{error:{code,message}}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (code: string, message: string) => new HttpError(400, code, message);
export const notFound = (code: string, message: string) => new HttpError(404, code, message);
export const conflict = (code: string, message: string) => new HttpError(409, code, message);
export const unavailable = (code: string, message: string, retryAfterSec: number) =>
  new HttpError(503, code, message, { 'Retry-After': String(retryAfterSec) });
