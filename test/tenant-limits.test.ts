import { afterEach, describe, expect, it } from 'vitest';
import { apiOptions } from '../producer-api/settings/options.ts';
import { NO_LIMITS, tenantLabel, tenantLimits, tenantLimitsFromText } from '../protocol/tenant-limits.ts';
import { formatReset } from '../producer-api/tenants/rate-limit.ts';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { startSecondApi } from './support/second-api.ts';

let f: TestFabric;
let second: { url: string; close(): Promise<void> } | undefined;
afterEach(async () => {
  await second?.close();
  second = undefined;
  await f?.close();
});

const KEYS = new Map([
  ['key-a', 'team-a'],
  ['key-b', 'team-b'],
  ['key-c', 'team-c'],
]);
const LIMITS = tenantLimits({
  tenants: {
    'team-a': { requestsPerSecond: 0.5, burst: 4 },
    'team-b': { maxWaiting: 2 },
    'team-c': { dailyTokens: 10 },
  },
});
const as = (key: string) => ({ authorization: `Bearer ${key}` });

async function twoInstances() {
  f = await startFabric({ apiKeys: KEYS, adminKey: 'admin-key', tenantLimits: LIMITS });
  second = await startSecondApi(apiOptions({ apiKeys: KEYS, adminKey: 'admin-key', tenantLimits: LIMITS }), f.keys);
  return [f.url, second.url] as const;
}

describe('tenant limits shared by two API instances', () => {
  it('refuses a burst over the request rate with 429, the limit named, Retry-After and x-ratelimit headers, counting both instances together', async () => {
    const urls = await twoInstances();
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await call(urls[i % 2]!, '/v1/jobs/job_none', { headers: as('key-a') }));
    expect(answers.slice(0, 4).map((a) => a.status)).toEqual([404, 404, 404, 404]);
    expect(answers.map((a) => a.headers.get('x-ratelimit-remaining-requests'))).toEqual(['3', '2', '1', '0', '0']);
    expect(answers[0]!.headers.get('x-ratelimit-limit-requests')).toBe('4');
    expect(answers[0]!.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+(\.\d)?s$/);
    const refused = answers[4]!;
    expect(refused.status).toBe(429);
    expect(refused.json.error.code).toBe('rate_limited');
    expect(refused.json.error.message).toMatch(/^limit requests:/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another tenant is not affected.
    expect((await call(urls[1], '/v1/jobs/job_none', { headers: as('key-b') })).status).toBe(404);
  });

  it('answers the OpenAI routes over the rate in OpenAI shape with retry-after-ms', async () => {
    const urls = await twoInstances();
    const body = { model: 'fake-small', messages: [{ role: 'user', content: 'hi' }] };
    for (let i = 0; i < 4; i++) await call(urls[i % 2]!, '/v1/jobs/job_none', { headers: as('key-a') });
    const r = await call(urls[0], '/v1/chat/completions', { body, headers: as('key-a') });
    expect(r.status).toBe(429);
    expect(r.json.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limited' });
    expect(Number(r.headers.get('retry-after-ms'))).toBeGreaterThan(0);
    expect(r.headers.get('x-ratelimit-remaining-requests')).toBe('0');
  });

  it('caps the jobs a tenant has waiting across both instances, and admits again once one leaves', async () => {
    const urls = await twoInstances();
    await f.addWorker({ tokensPerSecond: 0 });
    const job = { model: 'fake-small', input: { prompt: 'x' } };
    const a = await call(urls[0], '/v1/jobs', { body: job, headers: as('key-b') });
    const b = await call(urls[1], '/v1/jobs', { body: job, headers: as('key-b') });
    expect([a.status, b.status]).toEqual([202, 202]);
    const c = await call(urls[0], '/v1/jobs', { body: job, headers: as('key-b') });
    expect(c.status).toBe(429);
    expect(c.json.error.code).toBe('too_many_waiting_jobs');
    expect(c.headers.get('retry-after')).toBe('1');
    expect((await call(urls[1], `/v1/jobs/${a.json.id}/cancel`, { method: 'POST', headers: as('key-b') })).json.status).toBe('canceled');
    expect((await call(urls[1], '/v1/jobs', { body: job, headers: as('key-b') })).status).toBe(202);
  });

  it('stops submissions once the daily token budget is used, with the -tokens headers', async () => {
    const urls = await twoInstances();
    await f.addWorker({ tokensPerSecond: 0 }, { preload: ['fake-small:latest'] });
    const job = { model: 'fake-small', input: { prompt: 'count me', options: { num_predict: 8 } } };
    const first = await call(urls[0], '/v1/run', { body: job, headers: as('key-c') });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit-tokens')).toBe('10');
    const used = first.json.usage.prompt_tokens + first.json.usage.completion_tokens;
    expect(used).toBeGreaterThanOrEqual(10);
    const after = await waitFor(async () => {
      const r = await call(urls[1], '/v1/run', { body: job, headers: as('key-c') });
      return r.status === 429 ? r : undefined;
    });
    expect(after.json.error.code).toBe('token_budget_exhausted');
    expect(after.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
    expect(after.headers.get('x-ratelimit-reset-tokens')).toMatch(/^\d+h\d+m\d+s$|^\d+m\d+s$|^\d+(\.\d)?s$/);
    // Reading is still allowed: the budget applies to new work only.
    expect((await call(urls[1], `/v1/jobs/${first.json.id}`, { headers: as('key-c') })).status).toBe(200);
  });
});

describe('tenant limits configuration', () => {
  it('merges a tenant entry over the default, field by field, and names an invalid field', () => {
    const l = tenantLimitsFromText('{"default":{"requestsPerSecond":20,"maxWaiting":5,"maxRunning":3},"tenants":{"a":{"requestsPerSecond":2,"weight":3}}}');
    expect(l.forTenant('a')).toEqual({ requestsPerSecond: 2, burst: 2, maxWaiting: 5, maxRunning: 3, dailyTokens: 0, weight: 3 });
    expect(l.forTenant('other')).toMatchObject({ requestsPerSecond: 20, burst: 20, maxWaiting: 5, weight: 1 });
    expect([...l.tenants]).toEqual(['a']);
    expect(tenantLabel(l, 'a')).toBe('a');
    expect(tenantLabel(l, 'other')).toBe('unknown');
    expect(() => tenantLimitsFromText('{"tenants":{"a":{"weight":-1}}}')).toThrow(/tenants\.a\.weight/);
    expect(() => tenantLimitsFromText('{"tenants":{"a":{"rps":1}}}')).toThrow(/FABRIC_TENANT_LIMITS/);
    expect(() => tenantLimitsFromText('{nope')).toThrow(/not valid JSON/);
    expect(() => tenantLimitsFromText('@/no/such/file.json')).toThrow(/cannot read/);
    expect(tenantLimitsFromText('').forTenant('x')).toEqual(NO_LIMITS);
  });

  it("writes reset times in OpenAI's duration style", () => {
    expect(formatReset(20)).toBe('20ms');
    expect(formatReset(1_500)).toBe('1.5s');
    expect(formatReset(360_000)).toBe('6m0s');
    expect(formatReset(3_723_000)).toBe('1h2m3s');
  });
});
