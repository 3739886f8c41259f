import { describe, expect, it } from 'vitest';
import { HttpError } from '../producer-api/http/http-error.ts';
import { anthropicErrorBody, anthropicErrorHeaders, anthropicStatus } from '../producer-api/anthropic/errors.ts';
import { jobFailure } from '../producer-api/anthropic/responses.ts';
import type { JobRecord } from '../protocol/job.ts';

describe('fabric errors in Anthropic\'s shape', () => {
  const cases: [number, string, number, string][] = [
    [400, 'invalid_request', 400, 'invalid_request_error'],
    [422, 'invalid_input', 400, 'invalid_request_error'],
    [415, 'unsupported_media_type', 400, 'invalid_request_error'],
    [413, 'payload_too_large', 413, 'request_too_large'],
    [401, 'unauthorized', 401, 'authentication_error'],
    [403, 'forbidden', 403, 'permission_error'],
    [404, 'model_not_found', 404, 'not_found_error'],
    [429, 'rate_limited', 429, 'rate_limit_error'],
    [503, 'backlog_full', 529, 'overloaded_error'],
    [503, 'redis_unavailable', 529, 'overloaded_error'],
    [504, 'timeout', 504, 'api_error'],
    [500, 'internal_error', 500, 'api_error'],
    [502, 'engine_error', 500, 'api_error'],
  ];
  it.each(cases)('answers a %i %s as %i %s', (status, code, wantStatus, type) => {
    const err = new HttpError(status, code as HttpError['code'], 'why');
    expect(anthropicStatus(err)).toEqual({ status: wantStatus, type });
    expect(anthropicErrorBody(err)).toEqual({ type: 'error', error: { type, message: 'why' } });
  });

  it('keeps a retry-after it has and adds one to a 429 or 529 without', () => {
    expect(anthropicErrorHeaders(new HttpError(503, 'backlog_full', 'x', { 'Retry-After': '7' }))).toEqual({ 'Retry-After': '7' });
    expect(anthropicErrorHeaders(new HttpError(429, 'rate_limited', 'x'))).toEqual({ 'retry-after': '1' });
    expect(anthropicErrorHeaders(new HttpError(400, 'invalid_request', 'x'))).toEqual({});
    expect(anthropicErrorHeaders(new HttpError(409, 'job_canceled', 'x'))).toEqual({ 'x-should-retry': 'false' });
  });

  it('answers a job that did not succeed by how it ended', () => {
    const rec = (status: string, error?: object) => ({ status, error }) as unknown as JobRecord;
    expect(jobFailure(rec('succeeded'))).toBeNull();
    expect(anthropicStatus(jobFailure(null)!).status).toBe(504);
    expect(anthropicStatus(jobFailure(rec('failed', { code: 'context_length_exceeded', message: 'm', retryable: false }))!).type).toBe('invalid_request_error');
    expect(anthropicStatus(jobFailure(rec('failed', { code: 'engine_error', message: 'm', retryable: true }))!)).toEqual({ status: 500, type: 'api_error' });
    expect(anthropicStatus(jobFailure(rec('expired'))!)).toEqual({ status: 529, type: 'overloaded_error' });
    expect(anthropicStatus(jobFailure(rec('canceled'))!).status).toBe(409);
  });
});
