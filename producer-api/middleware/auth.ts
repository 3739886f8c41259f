/**
 * Bearer-key auth. With no keys configured (the laptop default) every caller is tenant
 * `default`. Admin routes need the admin key, as a Bearer token or as the Basic password
 * (so a browser can open Bull Board).
 */
import { timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { HttpError } from '../http/http-error.ts';

export const DEFAULT_TENANT = 'default';
/** The tenant an admin key acts as: it sees every tenant's jobs. */
export const ADMIN_TENANT = '*';

function presentedKey(req: Request): string | null {
  const apiKey = req.get('x-api-key');
  if (apiKey) return apiKey.trim();
  const header = req.get('authorization') ?? '';
  const bearer = /^Bearer\s+(.+)$/i.exec(header);
  if (bearer) return bearer[1]!.trim();
  const basic = /^Basic\s+(.+)$/i.exec(header);
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1);
  }
  return null;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Sets `res.locals.tenant` from the caller's key (`Authorization: Bearer` or `x-api-key`). The
 * admin key passes as tenant `*`: an operator who may read and cancel any tenant's job.
 */
export function tenantAuth(opts: { apiKeys: ReadonlyMap<string, string>; adminKey?: string | null }): RequestHandler {
  return (req, res, next) => {
    if (opts.apiKeys.size === 0) {
      res.locals.tenant = DEFAULT_TENANT;
      return next();
    }
    const key = presentedKey(req);
    if (!key) throw new HttpError(401, 'unauthorized', 'missing API key: send Authorization: Bearer <key> or x-api-key: <key>', { 'WWW-Authenticate': 'Bearer' });
    if (opts.adminKey && same(key, opts.adminKey)) {
      res.locals.tenant = ADMIN_TENANT;
      return next();
    }
    for (const [k, tenant] of opts.apiKeys) {
      if (same(k, key)) {
        res.locals.tenant = tenant;
        return next();
      }
    }
    throw new HttpError(401, 'unauthorized', 'invalid API key', { 'WWW-Authenticate': 'Bearer' });
  };
}

/** Operator-only routes. Open in laptop mode; closed when tenants are configured but no admin key is. */
export function adminAuth(opts: { apiKeys: ReadonlyMap<string, string>; adminKey: string | null }): RequestHandler {
  return (req, res, next) => {
    if (!opts.adminKey) {
      if (opts.apiKeys.size === 0) return next();
      throw new HttpError(403, 'forbidden', 'admin routes are disabled: set FABRIC_ADMIN_KEY');
    }
    const key = presentedKey(req);
    if (!key) throw new HttpError(401, 'unauthorized', 'admin key required', { 'WWW-Authenticate': 'Basic realm="inference-fabric admin"' });
    if (!same(key, opts.adminKey)) throw new HttpError(403, 'forbidden', 'not an admin key');
    res.locals.tenant = ADMIN_TENANT;
    next();
  };
}

/** Guards `/metrics` when FABRIC_METRICS_KEY is set (Bearer, x-api-key or Basic password); open otherwise. */
export function metricsAuth(metricsKey: string | null): RequestHandler {
  return (req, _res, next) => {
    if (!metricsKey) return next();
    const key = presentedKey(req);
    if (!key) throw new HttpError(401, 'unauthorized', 'metrics key required', { 'WWW-Authenticate': 'Bearer' });
    if (!same(key, metricsKey)) throw new HttpError(403, 'forbidden', 'not the metrics key');
    next();
  };
}
