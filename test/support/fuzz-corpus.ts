/**
 * A generated corpus of hostile requests across every route of the API, for the fuzz test.
 * Deterministic for a seed. Grow it with the API: each new route or field gets its own mutations.
 */
import { prng } from '../../sim/generate.js';

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** An event stream is expected to end with a `result` event when it answers 200. */
  stream?: boolean;
}

/**
 * What the corpus needs from the running fabric. Operator actions that are valid (unloading the
 * model, pausing or emptying its queue) are left out: they would stall the corpus's own jobs.
 */
export interface FuzzTargets {
  /** A model in the catalog, resident on a fast worker (the corpus never unloads it). */
  model: string;
  /** A job that has finished (its event stream ends at once). */
  doneJobId: string;
  /** Its newest event id. */
  doneLastEventId: string;
  /** A BullMQ queue name Bull Board lists. */
  queueName: string;
}

const nest = (depth: number, leaf: unknown = 1, key = 'a'): unknown => {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { [key]: v };
  return v;
};
/** Deep nesting written as text (JSON.stringify would itself overflow on some depths). */
const deepText = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

const WEIRD_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\u0001\u0002',
  '\u202e',
  '💥'.repeat(50),
  'a'.repeat(300),
  'x'.repeat(70_000),
  '../../etc/passwd',
  '%00',
  '%252F',
  "'; DROP TABLE jobs; --",
  '<script>alert(1)</script>',
  '\ud800',
  'null',
  '{"$ne":1}',
];
const WEIRD_VALUES: unknown[] = [null, true, 0, -1, 1e309 /* becomes null */, 2 ** 63, 1.5, [], {}, [[]], { a: { b: {} } }, ...WEIRD_STRINGS];
const WEIRD_ID_SEGMENTS = ['%00', '%FF', '%E0%A4%A', '%', '..%2F..', 'a'.repeat(2000), '%F0%9F%92%A5', 'job_' + '0'.repeat(32), '%2e%2e', '%0a', '~', '%25%25'];
const WEIRD_EVENT_IDS = ['x', '-1', '1', '1-', '-1-1', '99999999999999999999-0', '18446744073709551616-0', '0-18446744073709551616', '18446744073709551615-18446744073709551615', '1-1-1', ' 1-1', '١-١', '0x1-0', '1e3-0', '00000000000000000001-00000000000000000001'];
const STATUSES = ['latest', 'active', 'waiting', 'failed', '%01', '%00', 'bogus', '%E0%A4%A', 'waiting%0d%0a'];

export function fuzzCorpus(t: FuzzTargets, count: number, seed = 1): FuzzRequest[] {
  const r = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const json = { 'content-type': 'application/json' };
  const validJob = () => ({ model: t.model, input: { prompt: 'hi', options: { num_predict: 4 } } });

  const jobBody = (): unknown => {
    const b: Record<string, any> = validJob();
    switch (Math.floor(r() * 16)) {
      case 0: b.metadata = nest(5_000 + Math.floor(r() * 10_000)); break;
      case 1: b.input.format = nest(10_000); break;
      case 2: b.metadata = { blob: 'x'.repeat(100_000) }; break;
      case 3: b.input = { messages: [] }; break;
      case 4: b.input = { messages: [{ role: pick(['user', 'bogus', '', null]), content: pick(WEIRD_VALUES) }] }; break;
      case 5: b.model = pick(WEIRD_VALUES); break;
      case 6: b.priority = pick(WEIRD_VALUES); break;
      case 7: b.ttl = pick(WEIRD_VALUES); b.timeout = pick(WEIRD_VALUES); break;
      case 8: b.webhook = { url: pick(['file:///etc/passwd', 'http://127.0.0.1:1/x', 'http://[::1]/', 'javascript:alert(1)', 'http://169.254.169.254/latest', 'notaurl', '']) }; break;
      case 9: b.input.options = { num_predict: pick(WEIRD_VALUES), stop: Array.from({ length: 20 }, () => 'x'), nested: { a: 1 } }; break;
      case 10: b.input = pick(WEIRD_VALUES); break;
      case 11: b.input.prompt = 'word '.repeat(200_000); break;
      case 12: b[pick(WEIRD_STRINGS.slice(0, 8))] = pick(WEIRD_VALUES); break;
      case 13: b.task = pick(['chat', 'embed', 'generate', 'bogus', '']); break;
      case 14: b.input = { input: pick([[], [''], 'x'.repeat(70_000), [1, 2], nest(50)]) }; break;
      default: return pick(WEIRD_VALUES);
    }
    return b;
  };
  const ollamaBody = (): unknown => {
    const b: Record<string, any> = { model: t.model, prompt: 'hi', stream: pick([true, false]), options: { num_predict: 4 } };
    switch (Math.floor(r() * 10)) {
      case 0: b.format = nest(10_000); break;
      case 1: b.messages = pick([[], {}, 'x', [{ role: 'user' }], [{ role: 'user', content: nest(100) }]]); break;
      case 2: b.stream = pick(WEIRD_VALUES); break;
      case 3: b.keep_alive = pick(WEIRD_VALUES); break;
      case 4: b.options = pick([nest(1_000), { num_ctx: -5 }, { temperature: 'hot' }, []]); break;
      case 5: b.model = pick(WEIRD_VALUES); break;
      case 6: b.images = pick([[1], 'x', [nest(10)]]); break;
      case 7: b.prompt = pick(WEIRD_VALUES); break;
      case 8: b.input = pick(WEIRD_VALUES); break;
      default: delete b.model;
    }
    return b;
  };
  const serialize = (v: unknown): string => {
    const roll = r();
    if (roll < 0.05) return deepText(20_000);
    if (roll < 0.1) return pick(['{', '{"a":1,}', 'nul', '\u0000', '[1,2', '"unterminated', '{"model": "x"} trailing', '']);
    try {
      return JSON.stringify(v) ?? 'null';
    } catch {
      return deepText(10_000);
    }
  };
  const makers: (() => FuzzRequest)[] = [
    () => ({ method: 'POST', path: pick(['/v1/jobs', '/v1/jobs']), headers: { ...json, ...(r() < 0.2 ? { 'idempotency-key': pick(['k', 'a'.repeat(300), ' ', 'ok-key']) } : {}) }, body: serialize(jobBody()) }),
    () => ({ method: 'POST', path: '/v1/run', headers: { ...json, prefer: pick(['wait=1', 'wait=0', 'wait=99999999999999', 'wait=-1', 'wait=abc']) }, body: serialize(jobBody()) }),
    () => ({ method: 'POST', path: '/v1/jobs', headers: { 'content-type': pick(['text/plain', 'application/json; charset=utf-16', 'application/x-www-form-urlencoded', 'application/json; charset=bogus', 'multipart/form-data']) }, body: serialize(validJob()) }),
    () => ({ method: pick(['GET', 'GET', 'DELETE', 'PATCH', 'PUT']), path: `/v1/jobs/${pick(WEIRD_ID_SEGMENTS)}${pick(['', '?wait=abc', '?wait=-1', '?wait=1e309', '?wait=0.5', '?wait[]=1', '?wait=1&wait=2'])}`, headers: {} }),
    () => ({ method: 'GET', path: `/v1/jobs/${t.doneJobId}?wait=${pick(['abc', '-1', '1e309', '0', '%00', ''])}`, headers: {} }),
    () => ({ method: 'POST', path: `/v1/jobs/${pick([...WEIRD_ID_SEGMENTS, t.doneJobId])}/${pick(['cancel', 'retry'])}`, headers: json, body: serialize(pick(WEIRD_VALUES)) }),
    () => ({ method: 'GET', path: `/v1/jobs/${t.doneJobId}/events`, headers: { 'last-event-id': pick([...WEIRD_EVENT_IDS, t.doneLastEventId, '0-0']) }, stream: true }),
    () => ({ method: 'GET', path: `/v1/jobs/${t.doneJobId}/events?last_event_id=${encodeURIComponent(pick(WEIRD_EVENT_IDS))}`, headers: {}, stream: true }),
    () => ({ method: 'GET', path: `/v1/jobs/${pick(WEIRD_ID_SEGMENTS)}/events`, headers: { 'last-event-id': pick(WEIRD_EVENT_IDS) }, stream: true }),
    () => ({ method: 'POST', path: `/v1/models/${pick([...WEIRD_ID_SEGMENTS, encodeURIComponent(encodeURIComponent('hf.co/org/x:tag')), '%25E0%25A4', 'a%2Fb', encodeURIComponent(`${t.model}%`)])}/${pick(['load', 'unload'])}${pick(['', '?worker=%00', '?worker=' + 'w'.repeat(500), '?worker[]=1'])}`, headers: json, body: r() < 0.5 ? serialize(pick(WEIRD_VALUES)) : undefined }),
    () => ({ method: 'GET', path: `/v1/models${pick(['', '?x=%00', '/%00', '/' + 'a'.repeat(3000)])}`, headers: {} }),
    () => ({ method: 'POST', path: pick(['/api/generate', '/api/chat', '/api/embed', '/api/show']), headers: r() < 0.5 ? json : {}, body: serialize(ollamaBody()) }),
    () => ({ method: pick(['GET', 'POST']), path: pick(['/api/tags', '/api/ps', '/api/version', '/api/tags?x=%00', '/api/pull', '/api/%00']), headers: {}, body: undefined }),
    () => ({ method: 'GET', path: `/admin/queues/api/queues?activeQueue=${pick([t.queueName, '%00', 'x'.repeat(2000), '%E0%A4%A'])}&status=${pick(STATUSES)}&page=${pick(['1', '-1', 'x', '1e99', '%00'])}&jobsPerPage=${pick(['10', '0', '-5', '99999999999', '%01'])}`, headers: {} }),
    () => ({ method: pick(['GET', 'PUT', 'DELETE']), path: `/admin/queues/api/queues/${pick([t.queueName, '%00', 'nope', '%E0%A4%A'])}/${pick([pick(WEIRD_ID_SEGMENTS), 'retry/%01', 'clean/bogus', 'clean/%00', 'retry/failed', 'resume', 'metrics', 'workers', 'x/logs', 'x/flow'])}`, headers: json, body: r() < 0.3 ? serialize(pick(WEIRD_VALUES)) : undefined }),
    () => ({ method: 'GET', path: pick(['/admin/queues/api/redis/stats', '/admin/queues/api/metrics/latency?percentiles=%00', '/admin/queues/api/metrics/history?from=x&to=%01', '/admin/queues/api/job-schedulers?queueName=%00', '/admin/cluster/models', '/admin/cluster/decisions', '/admin/cluster/%00']), headers: {} }),
    () => ({ method: pick(['GET', 'POST', 'OPTIONS', 'HEAD']), path: pick(['/%', '/%2e%2e/%2e%2e', '/v1/%00', '/v1/jobs/%', '/healthz?x=%00', '/readyz', '/metrics?name[]=x', '/' + 'x'.repeat(5000), '/v1/jobs//events']), headers: { 'x-request-id': pick(['ok', 'a'.repeat(1000), '%00']) } }),
    () => ({ method: 'POST', path: '/v1/jobs', headers: { ...json, authorization: pick(['Bearer', 'Bearer ' + 'x'.repeat(5000), 'Basic Og==', 'bearer  x']) }, body: serialize(validJob()) }),
  ];
  return Array.from({ length: count }, () => pick(makers)());
}
