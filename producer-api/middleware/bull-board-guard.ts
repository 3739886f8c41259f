/**
 * A guard in front of Bull Board's JSON API (`/admin/queues/api/...`): Bull Board passes query
 * values and path parameters to Redis and BullMQ as they come, and a control character or an
 * unknown status reaches a 500. Bad values get a 400 here instead.
 */
import type { RequestHandler } from 'express';
import { STATUSES } from '@bull-board/api/constants/statuses';
import { badRequest } from '../http/http-error.ts';

const KNOWN_STATUSES = new Set<string>(Object.values(STATUSES));
const NUMERIC = new Set(['page', 'jobsPerPage', 'depth', 'maxChildren', 'from', 'to']);
const CONTROL = /[\u0000-\u001f\u007f]/;
const MAX_VALUE_LENGTH = 1024;

export function bullBoardGuard(): RequestHandler {
  return (req, _res, next) => {
    if (!req.path.startsWith('/api/')) return next();
    if (CONTROL.test(req.path) || req.path.length > MAX_VALUE_LENGTH) throw badRequest('invalid_request', 'the path holds a control character or is too long');
    for (const [name, raw] of Object.entries(req.query)) {
      const values = Array.isArray(raw) ? raw : [raw];
      for (const v of values) {
        if (typeof v !== 'string') throw badRequest('invalid_request', `query parameter ${name} must be a plain value`);
        if (CONTROL.test(v) || v.length > MAX_VALUE_LENGTH) throw badRequest('invalid_request', `query parameter ${name} holds a control character or is too long`);
        // Bull Board decodes some values again (a queue name): a malformed escape left in one would be its 500.
        if (v.includes('%') && decodeURIComponentSafe(v) === null) throw badRequest('invalid_request', `query parameter ${name} holds a malformed percent escape`);
        if ((name === 'status' || name === 'queueStatus') && !KNOWN_STATUSES.has(v)) throw badRequest('invalid_request', `status must be one of ${[...KNOWN_STATUSES].join(', ')}`);
        if (NUMERIC.has(name) && !/^\d{1,9}$/.test(v)) throw badRequest('invalid_request', `${name} must be a non-negative integer`);
      }
    }
    const m = /^\/api\/queues\/[^/]+\/(?:retry|clean)\/([^/]+)$/.exec(req.path);
    if (m && !KNOWN_STATUSES.has(decodeURIComponentSafe(m[1]!) ?? m[1]!)) throw badRequest('invalid_request', `status must be one of ${[...KNOWN_STATUSES].join(', ')}`);
    next();
  };
}

/** The decoded text, or null when `s` holds a malformed escape. */
function decodeURIComponentSafe(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}
