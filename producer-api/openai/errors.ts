/**
 * OpenAI's error shape `{"error":{"message","type","param","code"}}` for the OpenAI routes,
 * with the retry headers the official SDKs read: `retry-after-ms` (then `retry-after`) for the
 * delay, and `x-should-retry` to override their default of retrying 408/409/429/5xx.
 */
import type { ErrorRequestHandler } from 'express';
import type { HttpErrorCode } from '../../protocol/error-codes.ts';
import type { Logger } from '../../protocol/logger.ts';
import { HttpError } from '../http/http-error.ts';
import { toHttpError } from '../middleware/error-handler.ts';

/** An HttpError that also names the offending parameter and whether a retry can help. */
export class OpenAiError extends HttpError {
  readonly param: string | null;
  readonly shouldRetry?: boolean;
  constructor(
    status: number,
    code: HttpErrorCode,
    message: string,
    param: string | null = null,
    shouldRetry?: boolean,
    headers: Record<string, string> = {},
  ) {
    super(status, code, message, headers);
    this.param = param;
    this.shouldRetry = shouldRetry;
    this.name = 'OpenAiError';
  }

  static invalid(message: string, param: string | null = null): OpenAiError {
    return new OpenAiError(400, 'invalid_request', message, param, false);
  }
}

const TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  409: 'conflict_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
};

export function openAiErrorBody(err: HttpError) {
  const param = err instanceof OpenAiError ? err.param : null;
  const type = TYPES[err.status] ?? (err.status >= 500 ? 'server_error' : 'invalid_request_error');
  return { error: { message: err.message, type, param, code: err.code } };
}

/** Headers for an error: its own, `retry-after-ms` beside `retry-after`, and `x-should-retry` when known. */
export function openAiErrorHeaders(err: HttpError): Record<string, string> {
  const h: Record<string, string> = { ...err.headers };
  const after = Object.entries(err.headers).find(([k]) => k.toLowerCase() === 'retry-after')?.[1];
  if (after !== undefined && /^\d+(\.\d+)?$/.test(after)) h['retry-after-ms'] = String(Math.round(Number(after) * 1000));
  if (err instanceof OpenAiError && err.shouldRetry !== undefined) h['x-should-retry'] = String(err.shouldRetry);
  return h;
}

/** Paths answered in OpenAI's shape; the fabric's own routes keep `{error:{code,message}}`. */
export function isOpenAiPath(path: string): boolean {
  return /^\/v1\/(chat\/completions|completions|embeddings|files|batches|responses)(\/|$)/.test(path);
}

/**
 * A request under `/v1` that no route took: OpenAI's SDKs and clients expect their own error
 * shape from anything under that prefix, so the 404 is answered in it (code `route_not_found`).
 */
export function isUnknownV1Route(path: string, err: unknown): boolean {
  return (path === '/v1' || path.startsWith('/v1/')) && err instanceof HttpError && err.code === 'route_not_found';
}

/**
 * Mounted before the app's final handler: takes the errors of OpenAI paths (auth and body
 * parsing included) and passes every other error on.
 */
export function openAiErrorHandler(opts: { log: Logger; matches?: (req: { method: string; path: string }, err: unknown) => boolean }): ErrorRequestHandler {
  const matches = opts.matches ?? ((req) => isOpenAiPath(req.path));
  return (err, req, res, next) => {
    if (!matches(req, err)) return next(err);
    const httpErr = toHttpError(err);
    if (httpErr.status >= 500) opts.log.error({ err, requestId: res.locals.requestId, path: req.path }, 'Request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    for (const [k, v] of Object.entries(openAiErrorHeaders(httpErr))) res.setHeader(k, v);
    res.status(httpErr.status).json(openAiErrorBody(httpErr));
  };
}
