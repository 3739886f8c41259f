/** The 429 a tenant gets over one of its limits; the code names the limit. */
import type { HttpErrorCode } from '../../protocol/error-codes.ts';
import { HttpError } from '../http/http-error.ts';

export type TenantLimitName = 'requests' | 'tokens' | 'waiting_jobs';

/** Error codes of the three limits (also in the README's error table). */
export const LIMIT_CODES: Record<TenantLimitName, HttpErrorCode> = {
  requests: 'rate_limited',
  tokens: 'token_budget_exhausted',
  waiting_jobs: 'too_many_waiting_jobs',
};

export function tenantLimitError(limit: TenantLimitName, message: string, retryAfterSec: number, headers: Record<string, string> = {}): HttpError {
  return new HttpError(429, LIMIT_CODES[limit], `limit ${limit}: ${message}`, { ...headers, 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSec))) });
}
