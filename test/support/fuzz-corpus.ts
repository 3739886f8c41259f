/**
 * A generated corpus of hostile requests across every route of the API, for the fuzz test.
 * Deterministic for a seed. Grow it with the API: each new route or field gets its own mutations.
 */
import { prng } from '../../sim/generate.ts';
import { anthropicMakers } from './fuzz-anthropic.ts';
import { responsesMakers } from './fuzz-responses.ts';

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
  /**
   * An event stream that answers 200 must end properly: the fabric's with a `result` event,
   * OpenAI's with `data: [DONE]` or a final error chunk, Anthropic's with `message_stop` or an `error` event.
   */
  stream?: 'fabric' | 'openai' | 'anthropic' | 'responses';
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
  /** An uploaded batch input file (purpose `batch`) of the tenant the corpus calls as. */
  fileId: string;
  /** A batch created from it. */
  batchId: string;
  /** A stored (finished) Responses API response. */
  responseId: string;
  /** An uploaded file whose name holds characters a header cannot carry as they are. */
  oddFileId: string;
}

function nest(depth: number, leaf: unknown = 1, key = 'a'): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { [key]: v };
  return v;
}
/** Deep nesting written as text (JSON.stringify would itself overflow on some depths). */
function deepText(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

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
    switch (Math.floor(r() * 15)) {
      case 10: b.messages = [{ role: 'user', content: 'hi' }]; b.tools = pick([[nest(10_000)], nest(5_000), [{ type: 'function', function: { name: 'f', parameters: nest(9_000) } }], [{ type: 'function', function: { name: 'bad name!' } }], 'x', [{}], Array.from({ length: 500 }, () => ({ type: 'function', function: { name: 'f' } }))]); break;
      case 11: b.think = pick([...WEIRD_VALUES, 'max', 'low', true]); break;
      case 12: b.logprobs = pick([...WEIRD_VALUES, true]); b.top_logprobs = pick([...WEIRD_VALUES, 21, -1, 3]); break;
      case 13: b.messages = pick([[{ role: 'assistant', content: '', tool_calls: pick([nest(5_000), [{}], [{ function: { name: 'f', arguments: 'x' } }], [{ function: { name: 'f', arguments: nest(2_000) } }]]) }], [{ role: 'tool', content: 'x', tool_name: pick(WEIRD_VALUES) }], [{ role: 'tool', content: 'x', tool_call_id: 'c'.repeat(5_000) }]]); break;
      case 14: b.messages = [{ role: 'user', content: 'x', images: pick([['%%%'], [nest(10)], 'x', ['A'.repeat(300_001)], [''], Array.from({ length: 200 }, () => 'AAAA')]) }]; break;
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
    () => ({ method: 'GET', path: `/v1/jobs/${t.doneJobId}/events`, headers: { 'last-event-id': pick([...WEIRD_EVENT_IDS, t.doneLastEventId, '0-0']) }, stream: 'fabric' }),
    () => ({ method: 'GET', path: `/v1/jobs/${t.doneJobId}/events?last_event_id=${encodeURIComponent(pick(WEIRD_EVENT_IDS))}`, headers: {}, stream: 'fabric' }),
    () => ({ method: 'GET', path: `/v1/jobs/${pick(WEIRD_ID_SEGMENTS)}/events`, headers: { 'last-event-id': pick(WEIRD_EVENT_IDS) }, stream: 'fabric' }),
    () => ({ method: 'POST', path: `/v1/models/${pick([...WEIRD_ID_SEGMENTS, encodeURIComponent(encodeURIComponent('hf.co/org/x:tag')), '%25E0%25A4', 'a%2Fb', encodeURIComponent(`${t.model}%`)])}/${pick(['load', 'unload'])}${pick(['', '?worker=%00', '?worker=' + 'w'.repeat(500), '?worker[]=1'])}`, headers: json, body: r() < 0.5 ? serialize(pick(WEIRD_VALUES)) : undefined }),
    () => ({ method: 'GET', path: `/v1/models${pick(['', '?x=%00', '/%00', '/' + 'a'.repeat(3000)])}`, headers: {} }),
    () => ({ method: 'POST', path: pick(['/api/generate', '/api/chat', '/api/embed', '/api/show']), headers: r() < 0.5 ? json : {}, body: serialize(ollamaBody()) }),
    () => ({ method: pick(['GET', 'POST']), path: pick(['/api/tags', '/api/ps', '/api/version', '/api/tags?x=%00', '/api/pull', '/api/%00']), headers: {}, body: undefined }),
    // Model management; never a delete of the corpus's own model (it would stall the corpus's jobs).
    () => ({
      method: pick(['POST', 'DELETE', 'PUT']),
      path: pick(['/api/pull', '/api/pull?workers=all', '/api/pull?workers=%00', '/api/copy', '/api/create', '/api/delete']),
      headers: r() < 0.8 ? json : {},
      body: serialize({
        model: pick(WEIRD_VALUES),
        name: pick(WEIRD_VALUES),
        source: pick([t.model, ...WEIRD_VALUES]),
        destination: pick([t.model, ...WEIRD_VALUES]),
        from: pick([t.model, ...WEIRD_VALUES]),
        parameters: pick([nest(100), { temperature: 'hot' }, { num_predict: 2 }, ...WEIRD_VALUES]),
        adapters: pick([{ 'a.gguf': 'sha256:00' }, ...WEIRD_VALUES]),
        system: pick(WEIRD_VALUES),
        template: pick(WEIRD_VALUES),
        url: pick(['http://127.0.0.1:1/x.gguf', 'file:///etc/passwd', ...WEIRD_VALUES]),
        sha256: pick(['0'.repeat(64), ...WEIRD_VALUES]),
        workers: pick(['all', 'one', ...WEIRD_VALUES]),
        stream: pick([true, false, ...WEIRD_VALUES]),
      }),
    }),
    () => ({ method: 'GET', path: `/admin/queues/api/queues?activeQueue=${pick([t.queueName, '%00', 'x'.repeat(2000), '%E0%A4%A'])}&status=${pick(STATUSES)}&page=${pick(['1', '-1', 'x', '1e99', '%00'])}&jobsPerPage=${pick(['10', '0', '-5', '99999999999', '%01'])}`, headers: {} }),
    () => ({ method: pick(['GET', 'PUT', 'DELETE']), path: `/admin/queues/api/queues/${pick([t.queueName, '%00', 'nope', '%E0%A4%A'])}/${pick([pick(WEIRD_ID_SEGMENTS), 'retry/%01', 'clean/bogus', 'clean/%00', 'retry/failed', 'resume', 'metrics', 'workers', 'x/logs', 'x/flow'])}`, headers: json, body: r() < 0.3 ? serialize(pick(WEIRD_VALUES)) : undefined }),
    () => ({ method: 'GET', path: pick(['/admin/queues/api/redis/stats', '/admin/queues/api/metrics/latency?percentiles=%00', '/admin/queues/api/metrics/history?from=x&to=%01', '/admin/queues/api/job-schedulers?queueName=%00', '/admin/cluster/models', '/admin/cluster/decisions', '/admin/cluster/%00']), headers: {} }),
    () => ({ method: pick(['GET', 'POST', 'OPTIONS', 'HEAD']), path: pick(['/%', '/%2e%2e/%2e%2e', '/v1/%00', '/v1/jobs/%', '/healthz?x=%00', '/readyz', '/metrics?name[]=x', '/' + 'x'.repeat(5000), '/v1/jobs//events']), headers: { 'x-request-id': pick(['ok', 'a'.repeat(1000), '%00']) } }),
    () => ({ method: 'POST', path: '/v1/jobs', headers: { ...json, authorization: pick(['Bearer', 'Bearer ' + 'x'.repeat(5000), 'Basic Og==', 'bearer  x']) }, body: serialize(validJob()) }),
    ...openAiMakers(t, { r, pick, serialize }),
    ...anthropicMakers({ model: t.model, r, pick, serialize, nest: (depth) => nest(depth), weird: WEIRD_VALUES }),
    ...responsesMakers({ model: t.model, responseId: t.responseId, r, pick, serialize, nest: (depth) => nest(depth), weird: WEIRD_VALUES }),
  ];
  return Array.from({ length: count }, () => settled(pick(makers)()));
}

/**
 * The request with every string flat. `repeat` and `+` build ropes, which V8 flattens in place
 * (a full copy the request keeps) the first time they are read through, as fetch does when it
 * sends them. Flattened here, the corpus has all its memory before a test's first heap reading,
 * so a burst's growth is the API's, not the corpus's own ropes (~3.5 KB a request).
 */
function settled(req: FuzzRequest): FuzzRequest {
  // Reading one character flattens a rope (V8's String::Flatten); the value read is not needed.
  for (const s of [req.path, ...Object.values(req.headers), typeof req.body === 'string' ? req.body : '']) if (s.length > 0) s.charCodeAt(0);
  return req;
}

export interface MultipartPart {
  name: string;
  value: string;
  filename?: string;
  /** RFC 5987 form (`filename*=UTF-8''...`), percent-encoded: can carry any character. */
  encodedFilename?: string;
  type?: string;
}

/** A multipart/form-data body written by hand, so that it can be wrong in every way a parser meets. */
export function multipartBody(parts: MultipartPart[], boundary = 'fuzzBoundary', close = true): string {
  const each = parts.map((p) => `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename === undefined ? '' : `; filename="${p.filename}"`}${p.encodedFilename === undefined ? '' : `; filename*=UTF-8''${p.encodedFilename}`}\r\n${p.type ? `Content-Type: ${p.type}\r\n` : ''}\r\n${p.value}\r\n`);
  return each.join('') + (close ? `--${boundary}--\r\n` : '');
}

interface Dice {
  r: () => number;
  pick: <T>(xs: readonly T[]) => T;
  serialize: (v: unknown) => string;
}

const BAD_LIST_QUERIES = ['', '?limit=0', '?limit=-1', '?limit=1e309', '?limit=abc', '?limit=1.5', '?limit=%00', '?limit[]=1', '?limit=1&limit=2', '?limit=99999999999999999999', '?after=%00', '?after=%E0%A4%A', '?after=' + 'f'.repeat(3000), '?after[]=x', '?after=file-%0d%0a', '?after=batch_%FF&limit=2', '?purpose=%00', '?purpose[]=batch', '?order=sideways'];
const BAD_DURATIONS = ['', '0', '-1', 'abc', '1e309', '%00', '99999999999999999999d', '1.5.5s', 'NaN', 'Infinity', '10m&hold=5m', '%E0%A4%A', '10%00m', 'P1D'];

/** Mutations for the OpenAI routes, the Files and Batch API, the tenant routes and the rest of Ollama's surface. */
function openAiMakers(t: FuzzTargets, { r, pick, serialize }: Dice): (() => FuzzRequest)[] {
  const json = { 'content-type': 'application/json' };
  const chatBody = (): unknown => {
    const b: Record<string, any> = { model: t.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: r() < 0.4 };
    switch (Math.floor(r() * 20)) {
      case 16: b.reasoning_effort = pick([...WEIRD_VALUES, 'none', 'minimal', 'xhigh', 'max']); break;
      case 17: b.logprobs = pick([...WEIRD_VALUES, true, false]); b.top_logprobs = pick([...WEIRD_VALUES, 0, 20, 21, -1]); break;
      case 18: b.messages[0].content = [{ type: 'image_url', image_url: pick([{ url: 'https://example.com/x.png' }, { url: 'http://169.254.169.254/latest' }, { url: 'data:image/png;base64,' }, { url: 'data:image/png;base64,%%%%' }, { url: `data:image/png;base64,${'A'.repeat(400_000)}` }, { url: 'file:///etc/passwd' }, { url: nest(100) }, {}, 'x']) }, { type: pick(['input_audio', 'file', 'refusal']) }].slice(0, r() < 0.5 ? 1 : 2); break;
      case 19: b.messages = pick([[{ role: 'assistant', content: null, tool_calls: pick([nest(5_000), [{}], [{ id: 'c', type: 'function', function: { name: 'f', arguments: nest(100) } }]]) }], [{ role: 'tool', content: 'x', tool_call_id: pick(WEIRD_VALUES) }]]); b.parallel_tool_calls = pick(WEIRD_VALUES); break;
      case 0: b.messages = pick([[], {}, 'hi', null, [null], [{ role: 'user' }], [{ content: 'x' }], [{ role: 'user', content: nest(100) }], nest(10_000)]); break;
      case 1: b.messages[0].content = pick([[{ type: 'text' }], [{ type: 'image_url', image_url: { url: 'data:,' } }], [{ type: 'text', text: nest(5_000) }], [{}], ['x'], 'x'.repeat(300_000), '\u0000\u0001\u202e']); break;
      case 2: b.response_format = pick([{ type: 'json_schema', json_schema: { schema: nest(10_000) } }, { type: 'json_schema', json_schema: { schema: [] } }, { type: 'bogus' }, 'json', { type: 'json_object' }]); break;
      case 3: b.tools = pick([[nest(10_000)], nest(5_000), [{ type: 'function', function: { name: 'f', parameters: nest(9_000) } }], 'x']); break;
      case 4: b.stream_options = pick([{ include_usage: 'yes' }, nest(5_000), [], { include_usage: true }]); b.stream = true; break;
      case 5: b.max_tokens = pick(WEIRD_VALUES); b.max_completion_tokens = pick(WEIRD_VALUES); break;
      case 6: b.temperature = pick(WEIRD_VALUES); b.top_p = pick(WEIRD_VALUES); b.n = pick(WEIRD_VALUES); break;
      case 7: b.stop = pick([nest(50), Array.from({ length: 500 }, () => 'x'), [1], '', 'x'.repeat(70_000)]); break;
      case 8: b.logit_bias = pick([nest(5_000), { '1': 'x' }, [], { ['x'.repeat(10_000)]: 1 }]); break;
      case 9: b.model = pick(WEIRD_VALUES); break;
      case 10: b.seed = pick(WEIRD_VALUES); b.user = pick(WEIRD_VALUES); break;
      case 11: b.stream = pick(WEIRD_VALUES); break;
      case 12: b.metadata = nest(10_000); break;
      case 13: b[pick(['functions', 'tool_choice', 'presence_penalty', 'logprobs', 'top_logprobs'])] = pick([...WEIRD_VALUES, nest(5_000)]); break;
      case 14: b.messages = Array.from({ length: 5_000 }, () => ({ role: 'user', content: 'x' })); break;
      default: return pick(WEIRD_VALUES);
    }
    return b;
  };
  const completionBody = (): unknown => {
    const b: Record<string, any> = { model: t.model, prompt: 'hi', max_tokens: 4, stream: r() < 0.4 };
    switch (Math.floor(r() * 9)) {
      case 0: b.prompt = pick([...WEIRD_VALUES, nest(10_000), [nest(100)], [[1, 2, 3]], [[-1]], [1e309], Array.from({ length: 3_000 }, () => 'x')]); break;
      case 1: b.suffix = pick(WEIRD_VALUES); b.echo = pick(WEIRD_VALUES); break;
      case 2: b.best_of = pick(WEIRD_VALUES); b.n = pick(WEIRD_VALUES); break;
      case 3: b.prompt = 'word '.repeat(200_000); break;
      case 4: b.stream = true; b.stream_options = pick(WEIRD_VALUES); break;
      case 5: b.model = pick(WEIRD_VALUES); break;
      case 6: b.logit_bias = nest(8_000); break;
      case 7: b.logprobs = pick([...WEIRD_VALUES, 5, 6, -1, 2.5, true]); break;
      default: delete b.prompt;
    }
    return b;
  };
  const embeddingBody = (): unknown => {
    const b: Record<string, any> = { model: t.model, input: 'hi' };
    switch (Math.floor(r() * 7)) {
      case 0: b.input = pick([...WEIRD_VALUES, nest(10_000), [nest(100)], [[1, 2]], [[]], [''], Array.from({ length: 2_049 }, () => 'x'), [1e309]]); break;
      case 1: b.encoding_format = pick(WEIRD_VALUES); break;
      case 2: b.dimensions = pick(WEIRD_VALUES); break;
      case 3: b.model = pick(WEIRD_VALUES); break;
      case 4: b.input = 'word '.repeat(200_000); break;
      case 5: b.user = nest(10_000); break;
      default: delete b.input;
    }
    return b;
  };
  const batchLine = (): string => {
    const ok = { custom_id: `c-${Math.floor(r() * 1e6)}`, method: 'POST', url: '/v1/chat/completions', body: { model: t.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 } };
    return pick([JSON.stringify(ok), JSON.stringify({ ...ok, url: pick(['/v1/jobs', '', '/v1/embeddings', '//x']) }), JSON.stringify({ ...ok, body: nest(3_000) }), JSON.stringify({ ...ok, custom_id: pick(WEIRD_VALUES) }), '{', '', 'null', '[]', '\u0000', deepText(5_000), JSON.stringify({ ...ok, method: 'GET' })]);
  };
  const fileName = () => pick(['in.jsonl', '', '💥.jsonl', 'a\u0001b.jsonl', '../../etc/passwd', 'x'.repeat(5_000), 'q\\"uote.jsonl', '%00.jsonl', 'é.jsonl']);
  const upload = (): FuzzRequest => {
    const boundary = pick(['fuzzBoundary', 'fuzzBoundary', '', 'x'.repeat(100), '"quoted"', 'a b']);
    const content = Array.from({ length: 1 + Math.floor(r() * 4) }, batchLine).join('\n');
    const parts = [
      { name: 'purpose', value: pick(['batch', 'batch', 'fine-tune', '', 'x'.repeat(5_000), '\u0000']) },
      { name: pick(['file', 'file', 'file', 'files', '']), value: content, ...(r() < 0.7 ? { filename: fileName() } : { encodedFilename: pick(['%F0%9F%92%A5%01.jsonl', '%0d%0aset-cookie%3a%20x', '%E0%A4%A', '%22%22', '%FF%FE', '']) }), type: pick([undefined, 'application/jsonl', 'text/plain', 'application/octet-stream']) },
    ];
    if (r() < 0.2) parts.reverse();
    if (r() < 0.1) parts.push({ ...parts[1]!, value: 'second' });
    let body = multipartBody(parts, boundary === '' ? 'fuzzBoundary' : boundary.replace(/"/g, ''), r() > 0.15);
    const mangle = Math.floor(r() * 10);
    if (mangle === 0) body = body.slice(0, Math.floor(body.length * r()));
    else if (mangle === 1) body = body.replace(/\r\n/g, '\n');
    else if (mangle === 2) body = body.replace('Content-Disposition: form-data;', 'Content-Disposition:');
    else if (mangle === 3) body = 'garbage before\r\n' + body;
    const type = pick([`multipart/form-data; boundary=${boundary}`, `multipart/form-data; boundary=${boundary}`, 'multipart/form-data', 'multipart/form-data; boundary=', 'multipart/mixed; boundary=fuzzBoundary', 'application/json', 'text/plain', `multipart/form-data; boundary=fuzzBoundary; charset=bogus`]);
    return { method: 'POST', path: '/v1/files', headers: { 'content-type': type }, body: mangle === 4 ? Uint8Array.from([0xff, 0xfe, 0x00, 0x2d, 0x2d]) : body };
  };
  const fileIds = ['%00', '%E0%A4%A', 'file-' + '0'.repeat(24), t.fileId, t.oddFileId, '..%2F' + t.fileId, encodeURIComponent(t.fileId + '\u0001'), '%25' + t.fileId, 'x'.repeat(3000), t.batchId];
  const batchIds = ['%00', '%E0%A4%A', 'batch_' + '0'.repeat(24), t.batchId, '..%2Fx', 'x'.repeat(3000), t.fileId, '%0d%0a'];
  const batchBody = (): unknown => {
    const b: Record<string, any> = { input_file_id: t.fileId, endpoint: '/v1/chat/completions', completion_window: '24h' };
    switch (Math.floor(r() * 9)) {
      case 0: b.input_file_id = pick([...WEIRD_VALUES, t.oddFileId, t.batchId]); break;
      case 1: b.endpoint = pick([...WEIRD_VALUES, '/v1/jobs', '/v1/chat/completions/']); break;
      case 2: b.completion_window = pick([...WEIRD_VALUES, ...BAD_DURATIONS, '99999999999d', '1d', '0s', '24h'.repeat(1000)]); break;
      case 3: b.metadata = pick([nest(10_000), { a: nest(10) }, { ['k'.repeat(100)]: 'v' }, Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'v'])), [], 'x', { webhook_url: pick(['file:///etc/passwd', 'http://127.0.0.1:1/', 'notaurl', '\u0000']) }]); break;
      case 4: b.input_file_id = 'file-' + 'f'.repeat(24); break;
      default: return pick(WEIRD_VALUES);
    }
    return b;
  };
  const bodyOf = (make: () => unknown) => (r() < 0.05 ? Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) : serialize(make()));
  const inference = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings'] as const;
  const makerFor = { '/v1/chat/completions': chatBody, '/v1/completions': completionBody, '/v1/embeddings': embeddingBody };
  return [
    () => ({ method: 'POST', path: '/v1/chat/completions', headers: json, body: bodyOf(chatBody), stream: 'openai' }),
    () => ({ method: 'POST', path: '/v1/chat/completions', headers: json, body: bodyOf(chatBody), stream: 'openai' }),
    () => ({ method: 'POST', path: '/v1/completions', headers: json, body: bodyOf(completionBody), stream: 'openai' }),
    () => ({ method: 'POST', path: '/v1/embeddings', headers: json, body: bodyOf(embeddingBody), stream: 'openai' }),
    () => {
      const path = pick(inference);
      return { method: pick(['POST', 'POST', 'GET', 'PUT', 'DELETE']), path: path + pick(['', '?stream=true', '/%00', '/x']), headers: { 'content-type': pick(['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'application/json; charset=bogus', 'multipart/form-data; boundary=x', '']), ...(r() < 0.3 ? { authorization: pick(['Bearer', 'Bearer \u0080', 'Basic Og==']) } : {}) }, body: serialize(makerFor[path]()), stream: 'openai' };
    },
    () => ({ method: 'GET', path: `/v1/models/${pick([...WEIRD_ID_SEGMENTS, encodeURIComponent(encodeURIComponent(t.model)), '%25E0%25A4', encodeURIComponent(`${t.model}%`), '%25', t.model.replace(':', '%3A'), 'hf.co%2Forg%2Fx', '%20', '%E2%80%AE'])}`, headers: {} }),
    () => ({ method: 'POST', path: `/v1/models/${pick([encodeURIComponent(t.model), 'nope', '%25E0%25A4', '%25'])}/load?pin=${pick(BAD_DURATIONS)}`, headers: json }),
    // A repeated value is an array (refused); a bracketed name is another parameter (ignored), so only unknown models get it.
    () => ({ method: 'POST', path: `/v1/models/${pick([encodeURIComponent(t.model), 'nope', '%25E0%25A4', '%25'])}/${pick(['load?pin=10m&pin=20m', 'unload?hold=1m&hold=2m'])}`, headers: json }),
    () => ({ method: 'POST', path: `/v1/models/${pick(['nope', '%25E0%25A4', '%25'])}/${pick(['load?pin[]=10m', 'unload?hold[a]=1'])}`, headers: json }),
    () => ({ method: 'POST', path: `/v1/models/${encodeURIComponent(t.model)}/unload?hold=${pick(BAD_DURATIONS)}`, headers: json }),
    () => ({ method: 'POST', path: `/v1/models/nope-${pick(['%00', 'x', '%E0%A4%A'])}/unload?hold=${pick(['10m', ...BAD_DURATIONS])}`, headers: json }),
    upload,
    upload,
    () => ({ method: 'GET', path: `/v1/files${pick(BAD_LIST_QUERIES)}`, headers: {} }),
    () => ({ method: pick(['GET', 'GET', 'DELETE', 'POST', 'PUT']), path: `/v1/files/${pick(fileIds)}${pick(['', '/content', '/content', '/x', '/content?x=%00'])}`, headers: {} }),
    () => ({ method: 'POST', path: '/v1/batches', headers: r() < 0.85 ? json : { 'content-type': pick(['text/plain', 'multipart/form-data']) }, body: bodyOf(batchBody) }),
    () => ({ method: 'GET', path: `/v1/batches${pick(BAD_LIST_QUERIES)}`, headers: {} }),
    () => ({ method: pick(['GET', 'POST', 'POST', 'DELETE']), path: `/v1/batches/${pick(batchIds)}${pick(['', '/cancel', '/cancel?x=%00', '/output'])}`, headers: json, body: r() < 0.5 ? serialize(pick(WEIRD_VALUES)) : undefined }),
    () => ({ method: 'GET', path: `/v1/usage${pick(['', '?days=0', '?days=-1', '?days=1e309', '?days=abc', '?days=1.5', '?days=%00', '?days[]=1', '?days=1&days=2', '?days=99999999999', '?days=7&tenant=%00', '?tenant[]=x', '?tenant=' + 'x'.repeat(3000), '?tenant=%E0%A4%A', '?days= 7'])}`, headers: {} }),
    () => ({ method: 'POST', path: '/api/embeddings', headers: r() < 0.5 ? json : {}, body: serialize(pick([{ model: t.model, prompt: pick(WEIRD_VALUES) }, { model: pick(WEIRD_VALUES), prompt: 'hi' }, { model: t.model, prompt: 'hi', options: pick([nest(5_000), { num_ctx: 'x' }, []]) }, { model: t.model, prompt: 'word '.repeat(200_000) }, { model: t.model, prompt: 'hi', keep_alive: pick(WEIRD_VALUES) }, nest(10_000), ...WEIRD_VALUES])) }),
    () => ({ method: pick(['GET', 'HEAD', 'POST', 'OPTIONS']), path: pick(['/', '/?x=%00', '/?%E0%A4%A', '//', '/%2F']), headers: { accept: pick(['*/*', '\u0080', 'application/json']) } }),
  ];
}
