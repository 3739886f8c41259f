/** Request ids (honouring `X-Request-Id`), one structured log line per request, HTTP metrics. */
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from '../../protocol/logger.ts';
import { metrics } from '../settings/metrics.ts';

export function requestContext(opts: { log: Logger }): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const requestId = incoming && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (req.route?.path as string | undefined) ?? (req.baseUrl || 'unmatched');
      metrics.httpRequests.inc({ method: req.method, route: String(route), status: String(res.statusCode) });
      metrics.httpDuration.observe({ method: req.method, route: String(route) }, seconds);
      const level = res.statusCode >= 500 ? 'error' : 'debug';
      opts.log[level]({ requestId, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(seconds * 1000) }, 'HTTP request');
    });
    next();
  };
}
