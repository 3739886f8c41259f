/**
 * Hostile input: a generated corpus (test/support/fuzz-corpus.ts) of 3,000 malformed
 * requests across every route, against the real API on a real socket, a real Redis and a fake
 * worker. No answer may be a 5xx, an OpenAI route answers errors in OpenAI's shape (an Anthropic
 * route in Anthropic's), every event stream that opens must end with its result, the API's heap
 * must come back to within 30 MB of where it was before the burst, and an identical second burst
 * must add under 10 MB.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueKeys } from '../store/queue-keys.ts';
import { call, startFabric, type TestFabric } from './support/fabric.ts';
import { fuzzCorpus, multipartBody, type FuzzRequest, type MultipartPart, type FuzzTargets } from './support/fuzz-corpus.ts';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

const MODEL = 'fake-small:latest';
let f: TestFabric;
let targets: FuzzTargets;

beforeAll(async () => {
  f = await startFabric();
  // Slots enough for the corpus's valid inference requests, which wait for their answers.
  await f.addWorker({ tokensPerSecond: 0, slotsPerModel: 16 }, { preload: [MODEL] });
  const done = await call(f.url, '/v1/jobs', { body: { model: MODEL, input: { prompt: 'seed', options: { num_predict: 4 } } }, headers: { prefer: 'wait=10' } });
  expect(done.json.status).toBe('succeeded');
  const line = JSON.stringify({ custom_id: 'one', method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 } });
  const upload = async (name: Partial<MultipartPart>) => {
    const body = multipartBody([{ name: 'purpose', value: 'batch' }, { name: 'file', value: line, ...name }]);
    const up = await call(f.url, '/v1/files', { method: 'POST', body, headers: { 'content-type': 'multipart/form-data; boundary=fuzzBoundary' } });
    expect(up.status, up.text).toBe(200);
    return up.json.id as string;
  };
  const fileId = await upload({ filename: 'in.jsonl' });
  const storedResponse = async () => {
    const resp = await call(f.url, '/v1/responses', { body: { model: MODEL, input: 'hi', max_output_tokens: 2 } });
    expect(resp.status, resp.text).toBe(200);
    return resp.json.id as string;
  };
  const batch = await call(f.url, '/v1/batches', { body: { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' } });
  expect(batch.status).toBe(200);
  targets = {
    model: MODEL,
    doneJobId: done.json.id,
    doneLastEventId: (await f.api.store.lastEventId(done.json.id))!,
    queueName: queueKeys(f.keys.bullPrefix, MODEL).name,
    fileId,
    batchId: batch.json.id,
    responseId: await storedResponse(),
    oddFileId: await upload({ encodedFilename: '%F0%9F%92%A5%20%22x%22%01.jsonl' }),
  };
});
afterAll(async () => {
  await f?.close();
});

interface Outcome {
  req: FuzzRequest;
  status: number;
  problem?: string;
}

/** Routes whose errors OpenAI's SDKs read: `{"error":{"message","type","param","code"}}`. */
const OPENAI_PATH = /^\/v1\/(chat\/completions|completions|embeddings|files|batches|responses)(\/|\?|$)/;
function isOpenAiError(text: string): boolean {
  try {
    const e = JSON.parse(text).error;
    return typeof e?.message === 'string' && typeof e.type === 'string' && 'param' in e && 'code' in e;
  } catch {
    return false;
  }
}

/** Routes whose errors Anthropic's SDK reads: `{"type":"error","error":{"type","message"}}`. */
const ANTHROPIC_PATH = /^\/v1\/messages(\/|\?|$)/;
function isAnthropicError(text: string): boolean {
  try {
    const b = JSON.parse(text);
    return b.type === 'error' && typeof b.error?.type === 'string' && typeof b.error.message === 'string';
  } catch {
    return false;
  }
}

/**
 * The fabric's streams end with a `result` event; OpenAI's with `[DONE]` or, on failure, an error
 * chunk; Anthropic's with `message_stop` or an `error` event; Responses with the response's end.
 */
function streamEnded(kind: 'fabric' | 'openai' | 'anthropic' | 'responses', text: string): boolean {
  if (kind === 'responses') return /event: response\.(completed|incomplete|failed)\ndata: .*\n\n$/.test(text);
  if (kind === 'fabric') return text.includes('event: result');
  if (kind === 'anthropic') return /event: (message_stop|error)\ndata: .*\n\n$/.test(text);
  return /data: \[DONE\]\n\n$/.test(text) || /data: \{"error":.*\n\n$/.test(text);
}

async function send(req: FuzzRequest): Promise<Outcome | null> {
  let res: Response;
  try {
    res = await fetch(f.url + req.path, { method: req.method, headers: req.headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : req.body, signal: AbortSignal.timeout(20_000) });
  } catch (err) {
    // The client itself refused to send it (a header value fetch will not write): not the API's answer.
    if (err instanceof TypeError && !/fetch failed/.test(err.message)) return null;
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    const why = cause ? ` (${cause.code ?? ''} ${cause.message ?? ''})` : '';
    return { req, status: 0, problem: `no answer: ${(err as Error).message}${why}; body ${String(req.body ?? '').slice(0, 160)}; headers ${JSON.stringify(req.headers)}` };
  }
  const text = await res.text().catch((err: Error) => `<<body cut: ${err.message}>>`);
  if (res.status >= 500) return { req, status: res.status, problem: text.slice(0, 200) };
  if (res.status >= 400 && req.method !== 'HEAD' && OPENAI_PATH.test(req.path) && !isOpenAiError(text)) return { req, status: res.status, problem: `not in OpenAI's error shape: ${text.slice(0, 200)}` };
  if (res.status >= 400 && req.method !== 'HEAD' && ANTHROPIC_PATH.test(req.path) && !isAnthropicError(text)) return { req, status: res.status, problem: `not in Anthropic's error shape: ${text.slice(0, 200)}` };
  if (req.stream && res.status === 200 && (res.headers.get('content-type') ?? '').includes('text/event-stream') && !streamEnded(req.stream, text)) {
    return { req, status: res.status, problem: `event stream ended without a result: ${text.slice(-200)}` };
  }
  return { req, status: res.status };
}

async function burst(reqs: FuzzRequest[], concurrency = 16): Promise<Outcome[]> {
  const out: Outcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < reqs.length) {
        const o = await send(reqs[next++]!);
        if (o) out.push(o);
      }
    }),
  );
  return out;
}

function heapMb(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

describe('hostile input', () => {
  it('answers 3,000 generated hostile requests without a 5xx or a cut event stream, and gives the memory back', async () => {
    await burst(fuzzCorpus(targets, 200, 7)); // warm-up: lazy modules, caches, JIT
    // Built (and flat) before the first reading: the corpus's own strings are no part of what the API keeps.
    const corpus = fuzzCorpus(targets, 3_000, 1);
    const again = fuzzCorpus(targets, 3_000, 1);
    const before = heapMb();
    const rssBefore = process.memoryUsage().rss / 2 ** 20;
    const t0 = Date.now();
    const outcomes = await burst(corpus);
    const seconds = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 500));
    const after = heapMb();
    // An identical second burst: whatever the first left is a cache that is full, not a leak.
    await burst(again);
    await new Promise((r) => setTimeout(r, 500));
    const afterAgain = heapMb();
    console.info(`fuzz: heap after a second identical burst ${afterAgain.toFixed(1)} MB; rss ${rssBefore.toFixed(0)} -> ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`);
    const bad = outcomes.filter((o) => o.problem);
    const byStatus = new Map<number, number>();
    for (const o of outcomes) byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
    console.info(`fuzz: ${outcomes.length} answered of ${corpus.length} in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...byStatus].sort((a, b) => a[0] - b[0])))}; heap ${before.toFixed(1)} -> ${after.toFixed(1)} MB`);
    expect(bad.map((o) => `${o.req.method} ${o.req.path.slice(0, 120)} -> ${o.status}: ${o.problem}`).slice(0, 10)).toEqual([]);
    expect(outcomes.length).toBeGreaterThanOrEqual(2_950);
    expect(after - before).toBeLessThan(30);
    expect(afterAgain - after).toBeLessThan(10);
  }, 240_000);
});
