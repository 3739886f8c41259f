/**
 * Hostile input: a generated corpus (test/support/fuzz-corpus.ts) of more than 2,000 malformed
 * requests across every route, against the real API on a real socket, a real Redis and a fake
 * worker. No answer may be a 5xx, every event stream that opens must end with its result, and
 * the API's heap must come back to within 30 MB of where it was before the burst.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueKeys } from '../protocol/queue-keys.js';
import { call, startFabric, type TestFabric } from './support/fabric.js';
import { fuzzCorpus, type FuzzRequest, type FuzzTargets } from './support/fuzz-corpus.js';

setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

const MODEL = 'fake-small:latest';
let f: TestFabric;
let targets: FuzzTargets;

beforeAll(async () => {
  f = await startFabric();
  await f.addWorker({ tokensPerSecond: 0 }, { preload: [MODEL] });
  const done = await call(f.url, '/v1/jobs', { body: { model: MODEL, input: { prompt: 'seed', options: { num_predict: 4 } } }, headers: { prefer: 'wait=10' } });
  expect(done.json.status).toBe('succeeded');
  targets = { model: MODEL, doneJobId: done.json.id, doneLastEventId: (await f.api.store.lastEventId(done.json.id))!, queueName: queueKeys(f.keys.bullPrefix, MODEL).name };
});
afterAll(async () => {
  await f?.close();
});

interface Outcome {
  req: FuzzRequest;
  status: number;
  problem?: string;
}

async function send(req: FuzzRequest): Promise<Outcome | null> {
  let res: Response;
  try {
    res = await fetch(f.url + req.path, { method: req.method, headers: req.headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : req.body, signal: AbortSignal.timeout(20_000) });
  } catch (err) {
    // The client itself refused to send it (a header value fetch will not write): not the API's answer.
    if (err instanceof TypeError && !/fetch failed/.test(err.message)) return null;
    return { req, status: 0, problem: `no answer: ${(err as Error).message}; body ${(req.body ?? "").slice(0, 160)}; headers ${JSON.stringify(req.headers)}` };
  }
  const text = await res.text().catch((err: Error) => `<<body cut: ${err.message}>>`);
  if (res.status >= 500) return { req, status: res.status, problem: text.slice(0, 200) };
  if (req.stream && res.status === 200 && (res.headers.get('content-type') ?? '').includes('text/event-stream') && !text.includes('event: result')) {
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
  it('answers 2,000+ generated hostile requests without a 5xx or a cut event stream, and gives the memory back', async () => {
    await burst(fuzzCorpus(targets, 200, 7)); // warm-up: lazy modules, caches, JIT
    const before = heapMb();
    const corpus = fuzzCorpus(targets, 2_200, 1);
    const t0 = Date.now();
    const outcomes = await burst(corpus);
    const seconds = (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 500));
    const after = heapMb();
    const bad = outcomes.filter((o) => o.problem);
    const byStatus = new Map<number, number>();
    for (const o of outcomes) byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
    console.info(`fuzz: ${outcomes.length} answered of ${corpus.length} in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...byStatus].sort((a, b) => a[0] - b[0])))}; heap ${before.toFixed(1)} -> ${after.toFixed(1)} MB`);
    expect(bad.map((o) => `${o.req.method} ${o.req.path.slice(0, 120)} -> ${o.status}: ${o.problem}`).slice(0, 10)).toEqual([]);
    expect(outcomes.length).toBeGreaterThanOrEqual(2_000);
    expect(after - before).toBeLessThan(30);
  }, 240_000);
});
