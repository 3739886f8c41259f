/**
 * The client's retry and breaker rules, driven through its fetch port with scripted answers
 * (the fabric-backed tests cover the same paths end to end; these pin the edge cases).
 */
import { describe, expect, it } from 'vitest';
import { FabricClient, FabricError, retryAfterMs } from '../client/src/index.ts';

let port = 0;
/** A fetch double answering from a script; records each call's time and idempotency key. */
function scripted(answers: (() => Response | Promise<Response>)[]) {
  const calls: { at: number; key: string | null }[] = [];
  const fetchImpl: typeof fetch = async (_input, init) => {
    calls.push({ at: performance.now(), key: new Headers(init?.headers).get('idempotency-key') });
    const next = answers[Math.min(calls.length - 1, answers.length - 1)]!;
    return next();
  };
  // A distinct base URL per client: breakers are shared per URL.
  return { calls, fetchImpl, baseUrl: `http://fabric.test:${++port}` };
}
const json = (status: number, body: unknown, headers: Record<string, string> = {}) => () =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
const job = { id: 'job_1', status: 'queued' };
const refused = () => Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }));
const fast = { initialDelayMs: 1, maxDelayMs: 5 };

describe('client retries', () => {
  it('does not retry a 4xx and reports it as final', async () => {
    const s = scripted([json(422, { error: { code: 'invalid_input', message: 'needs a prompt' } })]);
    const client = new FabricClient({ baseUrl: s.baseUrl, fetch: s.fetchImpl, retry: fast });
    await expect(client.jobs.create({ model: 'm', input: {} })).rejects.toMatchObject({ status: 422, code: 'invalid_input', retryable: false });
    expect(s.calls).toHaveLength(1);
  });

  it('retries connection errors, 408, 429 and 5xx up to maxRetries with one idempotency key', async () => {
    const s = scripted([refused, json(408, {}), json(429, { error: { code: 'bad_request', message: 'slow down' } }), json(502, {}), json(202, job)]);
    const client = new FabricClient({ baseUrl: s.baseUrl, fetch: s.fetchImpl, retry: fast, maxRetries: 4, breaker: false });
    expect(await client.jobs.create({ model: 'm', input: { prompt: 'x' } })).toEqual(job);
    expect(s.calls).toHaveLength(5);
    expect(new Set(s.calls.map((c) => c.key)).size).toBe(1);
    expect(s.calls[0]!.key).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('gives up after maxRetries with the last error', async () => {
    const s = scripted([json(500, { error: { code: 'internal_error', message: 'boom' } })]);
    const client = new FabricClient({ baseUrl: s.baseUrl, fetch: s.fetchImpl, retry: fast, maxRetries: 2, breaker: false });
    await expect(client.jobs.get('job_1')).rejects.toMatchObject({ status: 500, code: 'internal_error', retryable: true, jobId: 'job_1' });
    expect(s.calls).toHaveLength(3);
  });

  it('honours retry-after-ms, and caps a Retry-After longer than maxRetryAfterMs', async () => {
    const s = scripted([json(429, {}, { 'retry-after-ms': '120' }), json(503, { error: { code: 'backlog_full', message: 'full' } }, { 'retry-after': '3600' }), json(200, job)]);
    const client = new FabricClient({ baseUrl: s.baseUrl, fetch: s.fetchImpl, retry: { ...fast, maxRetryAfterMs: 150 } });
    await client.jobs.get('job_1');
    const [a, b, c] = s.calls.map((x) => x.at);
    expect(b! - a!).toBeGreaterThanOrEqual(115);
    expect(c! - b!).toBeGreaterThanOrEqual(145);
    expect(c! - b!).toBeLessThan(1_000);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs(new Headers({ 'retry-after': '2' }))).toBe(2_000);
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '1500', 'retry-after': '9' }))).toBe(1_500);
    expect(retryAfterMs(new Headers({ 'retry-after': new Date(10_000).toUTCString() }), 4_000)).toBe(6_000);
    expect(retryAfterMs(new Headers({}))).toBeNull();
  });

  it('validates options at construction', () => {
    expect(() => new FabricClient({ baseUrl: 'localhost:8080' })).toThrow(/baseUrl/);
    expect(() => new FabricClient({ baseUrl: 'http://x', maxRetries: -1 })).toThrow(/maxRetries/);
    expect(() => new FabricClient({ baseUrl: 'http://x', breaker: { failureRate: 2 } })).toThrow(/failureRate/);
  });
});

describe('client circuit breaker', () => {
  it('opens on an error rate over its window even without a run of consecutive failures', async () => {
    // Two failures for each success: never three in a row, but 2/3 of the calls fail.
    const answers = Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? json(200, job) : json(500, {})));
    const s = scripted(answers);
    const client = new FabricClient({ baseUrl: s.baseUrl, fetch: s.fetchImpl, maxRetries: 0, breaker: { consecutiveFailures: 3, failureRate: 0.5, windowSize: 10, minimumCalls: 6, halfOpenAfterMs: 60_000 } });
    let opened = -1;
    for (let i = 0; i < 12 && opened < 0; i++) {
      await client.jobs.get('job_1').catch(() => undefined);
      if (client.circuitState === 'open') opened = i;
    }
    expect(opened).toBeGreaterThanOrEqual(5);
    const calls = s.calls.length;
    await expect(client.jobs.get('job_1')).rejects.toMatchObject({ code: 'circuit_open' });
    expect(s.calls.length).toBe(calls);
  });

  it('does not count 4xx answers or a model backlog as failures of the API', async () => {
    const s = scripted([json(404, { error: { code: 'job_not_found', message: 'no' } }), json(503, { error: { code: 'backlog_full', message: 'full' } }, { 'retry-after': '1' })]);
    const client = new FabricClient({ baseUrl: s.baseUrl, fetch: s.fetchImpl, maxRetries: 0, breaker: { consecutiveFailures: 2 } });
    for (let i = 0; i < 3; i++) await client.jobs.get('job_1').catch((e: unknown) => expect(e).toBeInstanceOf(FabricError));
    for (let i = 0; i < 3; i++) await client.jobs.create({ model: 'm', input: { prompt: 'x' } }).catch(() => undefined);
    expect(client.circuitState).toBe('closed');
  });

  it('is shared by clients of the same base URL', async () => {
    const s = scripted([refused]);
    const a = new FabricClient({ baseUrl: s.baseUrl, fetch: s.fetchImpl, maxRetries: 0, breaker: { consecutiveFailures: 2 } });
    const b = new FabricClient({ baseUrl: s.baseUrl, fetch: s.fetchImpl, maxRetries: 0, breaker: { consecutiveFailures: 2 } });
    await a.jobs.get('job_1').catch(() => undefined);
    await b.jobs.get('job_1').catch(() => undefined);
    expect(a.circuitState).toBe('open');
    await expect(b.models.list()).rejects.toMatchObject({ code: 'circuit_open' });
  });
});
