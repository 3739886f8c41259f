/**
 * Streaming through the fabric against the engine called directly: the FakeEngine produces
 * tokens at a fixed rate; each path is followed one stream at a time (the length of the path,
 * not queueing) and every token's arrival is timed at the client.
 *
 *   direct  FakeEngine.generate with onToken, in this process
 *   sse     POST /v1/jobs, then GET /v1/jobs/:id/events (server-sent events)
 *   ollama  POST /api/chat with stream: true (Ollama's NDJSON)
 *   responses  POST /v1/responses with stream: true (OpenAI's semantic events; text in response.output_text.delta)
 *   messages   POST /v1/messages with stream: true (Anthropic's events; text in content_block_delta)
 *
 * Time to first token is measured from the moment the request is sent (direct: the call). A
 * chunk that carries several tokens (the fabric coalesces text written while an append is in
 * flight) counts each of its tokens as arriving with it. "Lateness" of token i is its arrival
 * minus (first token's arrival + (i - 1) x the engine's token interval): the delay a path adds
 * between tokens, whatever its constant delay to the first one.
 */
import type { Logger } from '../protocol/logger.ts';
import { startBenchFabric, type Topology } from './fabric-harness.ts';
import type { PrivateRedis } from './private-redis.ts';
import { summarize, type LatencySummary } from './stats.ts';
import { MODEL, zeroLatencyEngine } from './workload.ts';

export type StreamPath = 'direct' | 'sse' | 'ollama' | 'responses' | 'messages';

export interface StreamingOptions {
  redis: PrivateRedis;
  log: Logger;
  topology: Topology;
  tokensPerSecond: number;
  tokens: number;
  streams: number;
}

export interface StreamingResult {
  path: StreamPath;
  streams: number;
  tokens: number;
  ttft: LatencySummary;
  gap: LatencySummary;
  lateness: LatencySummary;
}

export interface StreamingReport {
  tokensPerSecond: number;
  tokensPerStream: number;
  results: StreamingResult[];
}

const PROMPT = [{ role: 'user' as const, content: 'stream please' }];
const WARMUP_STREAMS = 2;

/** Arrival times (ms since the request was sent) of each token of one stream. */
type Arrivals = number[];

const wordsIn = (text: string) => text.split(' ').filter(Boolean).length;

async function directStream(tps: number, tokens: number, engine: ReturnType<typeof zeroLatencyEngine>): Promise<Arrivals> {
  const t0 = performance.now();
  const at: Arrivals = [];
  await engine.generate({
    model: MODEL,
    task: 'chat',
    messages: PROMPT,
    options: { num_predict: tokens },
    signal: new AbortController().signal,
    onToken: (t) => {
      for (let i = 0; i < wordsIn(t); i++) at.push(performance.now() - t0);
    },
  });
  return at;
}

/** Reads a streamed body, handing each complete `sep`-terminated record to `onRecord`; stops when it returns true. */
async function readRecords(res: Response, sep: string, onRecord: (record: string) => boolean): Promise<void> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf(sep)) >= 0) {
      const record = buf.slice(0, i);
      buf = buf.slice(i + sep.length);
      if (onRecord(record)) {
        await reader.cancel();
        return;
      }
    }
  }
}

async function sseStream(url: string, tokens: number): Promise<Arrivals> {
  const t0 = performance.now();
  const at: Arrivals = [];
  const body = JSON.stringify({ model: 'fake-small', task: 'chat', input: { messages: PROMPT, options: { num_predict: tokens } } });
  const sub = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  if (sub.status !== 202) throw new Error(`POST /v1/jobs answered ${sub.status}: ${await sub.text()}`);
  const { id } = (await sub.json()) as { id: string };
  const res = await fetch(`${url}/v1/jobs/${id}/events`);
  await readRecords(res, '\n\n', (record) => {
    const event = /^event: (.*)$/m.exec(record)?.[1];
    const data = /^data: (.*)$/m.exec(record)?.[1] ?? '';
    if (event === 'token') {
      const now = performance.now() - t0;
      for (let i = 0; i < wordsIn((JSON.parse(data) as { text: string }).text); i++) at.push(now);
    }
    return event === 'status' && ['succeeded', 'failed', 'canceled', 'timed_out', 'expired'].includes((JSON.parse(data) as { status: string }).status);
  });
  return at;
}

async function ollamaStream(url: string, tokens: number): Promise<Arrivals> {
  const t0 = performance.now();
  const at: Arrivals = [];
  const body = JSON.stringify({ model: 'fake-small', messages: PROMPT, stream: true, options: { num_predict: tokens } });
  const res = await fetch(`${url}/api/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  if (res.status !== 200) throw new Error(`POST /api/chat answered ${res.status}: ${await res.text()}`);
  await readRecords(res, '\n', (line) => {
    if (!line) return false;
    const chunk = JSON.parse(line) as { message?: { content?: string }; done?: boolean };
    const now = performance.now() - t0;
    for (let i = 0; i < wordsIn(chunk.message?.content ?? ''); i++) at.push(now);
    return chunk.done === true;
  });
  return at;
}

/** A POST answered with server-sent events whose `event:` names the event; `textOf` gives a text event's text (null: not one), `isEnd` the last event. */
async function eventStream(url: string, path: string, body: unknown, textOf: (event: string, data: string) => string | null, isEnd: (event: string) => boolean): Promise<Arrivals> {
  const t0 = performance.now();
  const at: Arrivals = [];
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`POST ${path} answered ${res.status}: ${await res.text()}`);
  await readRecords(res, '\n\n', (record) => {
    const event = /^event: (.*)$/m.exec(record)?.[1] ?? '';
    const text = textOf(event, /^data: (.*)$/m.exec(record)?.[1] ?? '');
    if (text !== null) {
      const now = performance.now() - t0;
      for (let i = 0; i < wordsIn(text); i++) at.push(now);
    }
    return isEnd(event);
  });
  return at;
}

const responsesStream = (url: string, tokens: number) =>
  eventStream(
    url,
    '/v1/responses',
    { model: 'fake-small', input: PROMPT[0]!.content, max_output_tokens: tokens, stream: true, store: false },
    (event, data) => (event === 'response.output_text.delta' ? (JSON.parse(data) as { delta: string }).delta : null),
    (event) => /^response\.(completed|incomplete|failed)$/.test(event),
  );

const messagesStream = (url: string, tokens: number) =>
  eventStream(
    url,
    '/v1/messages',
    { model: 'fake-small', messages: PROMPT, max_tokens: tokens, stream: true },
    (event, data) => (event === 'content_block_delta' ? ((JSON.parse(data) as { delta: { text?: string } }).delta.text ?? '') : null),
    (event) => event === 'message_stop' || event === 'error',
  );

function summarizePath(path: StreamPath, streams: Arrivals[], intervalMs: number): StreamingResult {
  const ttft: number[] = [];
  const gap: number[] = [];
  const lateness: number[] = [];
  for (const at of streams) {
    if (at.length === 0) continue;
    ttft.push(at[0]!);
    for (let i = 1; i < at.length; i++) {
      gap.push(at[i]! - at[i - 1]!);
      lateness.push(at[i]! - (at[0]! + i * intervalMs));
    }
  }
  return { path, streams: streams.length, tokens: streams.reduce((s, a) => s + a.length, 0), ttft: summarize(ttft), gap: summarize(gap), lateness: summarize(lateness) };
}

async function repeat(n: number, once: () => Promise<Arrivals>, expectTokens: number): Promise<Arrivals[]> {
  return (await interleave(n, [once], expectTokens))[0]!;
}

/** `n` streams of each path, the paths taking turns (after a warm-up of each). */
async function interleave(n: number, paths: (() => Promise<Arrivals>)[], expectTokens: number): Promise<Arrivals[][]> {
  for (let i = 0; i < WARMUP_STREAMS; i++) for (const once of paths) await once();
  const out: Arrivals[][] = paths.map(() => []);
  for (let i = 0; i < n; i++) {
    for (const [p, once] of paths.entries()) {
      const at = await once();
      if (at.length !== expectTokens) throw new Error(`a stream delivered ${at.length} tokens, expected ${expectTokens}`);
      out[p]!.push(at);
    }
  }
  return out;
}

export async function streamingPhases(o: StreamingOptions): Promise<StreamingReport> {
  const intervalMs = 1000 / o.tokensPerSecond;
  const engine = zeroLatencyEngine(1, o.tokensPerSecond);
  await engine.load(MODEL);
  const direct = await repeat(o.streams, () => directStream(o.tokensPerSecond, o.tokens, engine), o.tokens).finally(() => engine.close());
  const fabric = await startBenchFabric({ redis: o.redis, log: o.log, slots: 4, topology: o.topology, tokensPerSecond: o.tokensPerSecond });
  try {
    // The fabric's paths take turns, one stream each, so a machine busier at one moment weighs on all of them alike.
    const [sse, ollama, responses, messages] = await interleave(o.streams, [() => sseStream(fabric.url, o.tokens), () => ollamaStream(fabric.url, o.tokens), () => responsesStream(fabric.url, o.tokens), () => messagesStream(fabric.url, o.tokens)], o.tokens);
    return {
      tokensPerSecond: o.tokensPerSecond,
      tokensPerStream: o.tokens,
      results: [direct, sse!, ollama!, responses!, messages!].map((arrivals, i) => summarizePath((['direct', 'sse', 'ollama', 'responses', 'messages'] as const)[i]!, arrivals, intervalMs)),
    };
  } finally {
    await fabric.close();
  }
}
