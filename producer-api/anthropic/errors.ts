/**
 * Anthropic's error shape `{"type":"error","error":{"type","message"}}` for the Messages routes.
 * The fabric's HttpErrors map to Anthropic's error types in one table, by status; the fabric's
 * overload (503, a full backlog or a store away) answers 529 `overloaded_error`, as Anthropic
 * does, and every 429 and 529 carries `retry-after`, which the official SDK waits for.
 */
import type { ErrorRequestHandler } from 'express';
import type { Logger } from '../../protocol/logger.ts';
import { HttpError } from '../http/http-error.ts';
import { toHttpError } from '../middleware/error-handler.ts';

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

/** Fabric status -> the status and type Anthropic answers with (anything else: by range). */
const BY_STATUS: Record<number, { status: number; type: AnthropicErrorType }> = {
  400: { status: 400, type: 'invalid_request_error' },
  401: { status: 401, type: 'authentication_error' },
  403: { status: 403, type: 'permission_error' },
  404: { status: 404, type: 'not_found_error' },
  // A job canceled by someone else: final, so the SDK is told not to retry the 409.
  409: { status: 409, type: 'invalid_request_error' },
  413: { status: 413, type: 'request_too_large' },
  415: { status: 400, type: 'invalid_request_error' },
  422: { status: 400, type: 'invalid_request_error' },
  429: { status: 429, type: 'rate_limit_error' },
  503: { status: 529, type: 'overloaded_error' },
  504: { status: 504, type: 'api_error' },
};

/** The status and type an HttpError answers with on the Messages routes. */
export function anthropicStatus(err: HttpError): { status: number; type: AnthropicErrorType } {
  return BY_STATUS[err.status] ?? (err.status >= 500 ? { status: 500, type: 'api_error' } : { status: 400, type: 'invalid_request_error' });
}

export function anthropicErrorBody(err: HttpError) {
  return { type: 'error' as const, error: { type: anthropicStatus(err).type, message: err.message } };
}

/** The error's own headers, with `retry-after` sure to be there on 429 and 529 and `x-should-retry: false` on a 409. */
export function anthropicErrorHeaders(err: HttpError): Record<string, string> {
  const h: Record<string, string> = { ...err.headers };
  const { status } = anthropicStatus(err);
  const hasRetryAfter = Object.keys(h).some((k) => k.toLowerCase() === 'retry-after');
  if ((status === 429 || status === 529) && !hasRetryAfter) h['retry-after'] = '1';
  if (status === 409) h['x-should-retry'] = 'false';
  return h;
}

/** An `invalid_request_error` (400). */
export const invalidRequest = (message: string) => new HttpError(400, 'invalid_request', message);

/** Paths answered in Anthropic's shape. */
export function isAnthropicPath(path: string): boolean {
  return /^\/v1\/messages(\/|$)/.test(path);
}

/**
 * Mounted before the app's final handler: takes the errors of the Messages paths (auth and body
 * parsing included) and passes every other error on.
 */
export function anthropicErrorHandler(opts: { log: Logger }): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (!isAnthropicPath(req.path)) return next(err);
    const httpErr = toHttpError(err);
    if (httpErr.status >= 500 && httpErr.code !== 'redis_unavailable') opts.log.error({ err, requestId: res.locals.requestId, path: req.path }, 'Request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    for (const [k, v] of Object.entries(anthropicErrorHeaders(httpErr))) res.setHeader(k, v);
    res.status(anthropicStatus(httpErr).status).json(anthropicErrorBody(httpErr));
  };
}
