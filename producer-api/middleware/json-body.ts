/** JSON bodies: size limit (413), content type (415), malformed JSON (400), nesting depth (400). */
import express, { type RequestHandler } from 'express';
import { HttpError } from '../http/http-error.ts';
import { MAX_JSON_DEPTH, deeperThan } from '../http/json-limits.ts';

/**
 * `requireContentType` is on for the fabric's own routes; the Ollama-compatible routes parse
 * any content type, as Ollama does (its clients and curl -d send other types).
 */
export function jsonBody(opts: { limitBytes: number; requireContentType: boolean }): RequestHandler[] {
  const check: RequestHandler = (req, _res, next) => {
    const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
    if (opts.requireContentType && hasBody && !req.is('application/json')) {
      throw new HttpError(415, 'unsupported_media_type', 'send the body as application/json');
    }
    next();
  };
  const parse = express.json({ limit: opts.limitBytes, type: opts.requireContentType ? 'application/json' : () => true, strict: true });
  const depth: RequestHandler = (req, _res, next) => {
    if (deeperThan(req.body, MAX_JSON_DEPTH)) throw new HttpError(400, 'json_too_deep', `request body nests deeper than ${MAX_JSON_DEPTH} levels`);
    next();
  };
  return [check, parse, depth];
}
