/** The final handler: every error leaves as JSON `{error:{code,message}}` with its status. */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../../protocol/logger.ts';
import { isRedisUnavailable } from '../../store/redis-config.ts';
import { HttpError, unavailable } from '../http/http-error.ts';

interface BodyParserError {
  type?: string;
  status?: number;
  message?: string;
}

/** Seconds a client is told to wait before retrying while Redis is away. */
const REDIS_RETRY_AFTER_SEC = 2;

export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (isRedisUnavailable(err)) return unavailable('redis_unavailable', 'the job store (Redis) is unreachable; retry shortly', REDIS_RETRY_AFTER_SEC);
  const e = err as BodyParserError;
  if (e?.type === 'entity.too.large') return new HttpError(413, 'payload_too_large', 'request body exceeds the size limit');
  if (e?.type === 'entity.parse.failed') return new HttpError(400, 'invalid_json', 'request body is not valid JSON');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return new HttpError(415, 'unsupported_media_type', e.message ?? 'unsupported encoding');
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return new HttpError(e.status, 'bad_request', e.message ?? 'bad request');
  return new HttpError(500, 'internal_error', 'internal error');
}

export function errorHandler(opts: { log: Logger; ollamaStyle?: (path: string) => boolean }): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const httpErr = toHttpError(err);
    if (httpErr.code === 'redis_unavailable') opts.log.warn({ err, requestId: res.locals.requestId, path: req.path }, 'Request refused: Redis unreachable');
    else if (httpErr.status >= 500) opts.log.error({ err, requestId: res.locals.requestId, path: req.path }, 'Request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    for (const [k, v] of Object.entries(httpErr.headers)) res.setHeader(k, v);
    // Ollama clients read `{"error": "..."}`; the fabric's own routes use the structured shape.
    if (opts.ollamaStyle?.(req.path)) res.status(httpErr.status).json({ error: httpErr.message });
    else res.status(httpErr.status).json({ error: { code: httpErr.code, message: httpErr.message } });
  };
}

export function notFoundRoute(): RequestHandler {
  return (req) => {
    throw new HttpError(404, 'route_not_found', `no route for ${req.method} ${req.path}`);
  };
}
