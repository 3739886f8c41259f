/**
 * The per-tenant gate on every tenant request: one Redis round trip (store/scripts/tenant-gate.lua)
 * takes a request from the tenant's bucket and checks its daily token budget, shared by
 * every API instance. Answers carry OpenAI's `x-ratelimit-*` headers; over a limit, 429 with
 * `Retry-After` (the OpenAI routes add `retry-after-ms`).
 */
import type { RequestHandler, Response } from 'express';
import type { TenantLedger, GateResult } from '../../store/tenant-ledger.ts';
import { msToNextUtcDay } from '../../store/tenant-ledger.ts';
import type { TenantLimit, TenantLimits } from '../../protocol/tenant-limits.ts';
import { tenantLimitError } from './limit-error.ts';

/** POST routes that create jobs, or a batch of them (the token budget applies to them). */
const SUBMIT_PATHS = /^\/(v1\/(jobs|run|chat\/completions|completions|embeddings|batches)|api\/(generate|chat|embed|embeddings))\/?$/;

export function isSubmission(method: string, path: string): boolean {
  return method === 'POST' && SUBMIT_PATHS.test(path);
}

/** OpenAI's reset format: `20ms`, `1.5s`, `6m0s`, `1h2m3s`. */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const total = Math.ceil(ms / 100) / 10;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = Math.round((total % 60) * 10) / 10;
  if (h > 0) return `${h}h${m}m${Math.round(s)}s`;
  if (m > 0) return `${m}m${Math.round(s)}s`;
  return `${s}s`;
}

export function rateLimitHeaders(limit: TenantLimit, g: GateResult, now: number): Record<string, string> {
  const h: Record<string, string> = {};
  if (limit.requestsPerSecond > 0 && g.remainingRequests !== null) {
    h['x-ratelimit-limit-requests'] = String(limit.burst);
    h['x-ratelimit-remaining-requests'] = String(g.remainingRequests);
    h['x-ratelimit-reset-requests'] = formatReset(g.resetRequestsMs);
  }
  if (limit.dailyTokens > 0) {
    h['x-ratelimit-limit-tokens'] = String(limit.dailyTokens);
    h['x-ratelimit-remaining-tokens'] = String(Math.max(0, limit.dailyTokens - g.tokensUsedToday));
    h['x-ratelimit-reset-tokens'] = formatReset(msToNextUtcDay(now));
  }
  return h;
}

function setAll(res: Response, headers: Record<string, string>): void {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
}

/** Mounted after tenant auth. The admin (`*`) and tenants without limits pass without a round trip. */
export function tenantRateLimit(d: { ledger: TenantLedger; limits: TenantLimits }): RequestHandler {
  return async (req, res, next) => {
    const tenant = res.locals.tenant as string | undefined;
    if (!tenant || tenant === '*' || res.locals.rateLimited) return next();
    res.locals.rateLimited = true;
    const limit = d.limits.forTenant(tenant);
    if (limit.requestsPerSecond <= 0 && limit.dailyTokens <= 0) return next();
    const now = Date.now();
    const g = await d.ledger.gate(tenant, limit, isSubmission(req.method, req.originalUrl.split('?')[0]!), now);
    const headers = rateLimitHeaders(limit, g, now);
    setAll(res, headers);
    if (g.allowed) return next();
    const retrySec = g.retryAfterMs / 1000;
    if (g.refused === 'tokens') {
      throw tenantLimitError('tokens', `tenant ${tenant} used ${g.tokensUsedToday} of its ${limit.dailyTokens} tokens today (UTC); the budget renews at midnight UTC`, retrySec, headers);
    }
    throw tenantLimitError('requests', `tenant ${tenant} is over ${limit.requestsPerSecond} requests per second (burst ${limit.burst}); retry after the Retry-After delay`, retrySec, headers);
  };
}

/** Tenant auth, then the rate limit: one handler wherever routes ask for a tenant. */
export function authThenLimit(auth: RequestHandler, limit: RequestHandler): RequestHandler {
  return (req, res, next) =>
    auth(req, res, (err?: unknown) => {
      if (err) return next(err);
      Promise.resolve(limit(req, res, next)).catch(next);
    });
}
