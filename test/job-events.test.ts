import { afterEach, describe, expect, it } from 'vitest';
import { EventHub, type JobNotice } from '../producer-api/jobs/event-hub.ts';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { newRedis, testKeys } from './support/redis.ts';

let f: TestFabric;
afterEach(async () => f?.close());

interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

/** Reads an SSE stream until it closes (or `stopAfter` events), parsing each event. */
async function readSse(url: string, headers: Record<string, string> = {}, stopAfter = Infinity): Promise<SseEvent[]> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of res.body!) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev: SseEvent = { event: 'message', data: undefined };
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) ev.id = line.slice(4);
          else if (line.startsWith('event: ')) ev.event = line.slice(7);
          else if (line.startsWith('data: ')) ev.data = JSON.parse(line.slice(6));
        }
        if (ev.data !== undefined) events.push(ev);
        if (events.length >= stopAfter) {
          ac.abort();
          return events;
        }
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  }
  return events;
}

describe('server-sent events', () => {
  it('streams status changes, tokens and the final result of a job', async () => {
    f = await startFabric();
    await f.addWorker({ tokensPerSecond: 100 }, { preload: ['fake-small:latest'] });
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'p', options: { num_predict: 6 } } } });
    const events = await readSse(`${f.url}/v1/jobs/${sub.json.id}/events`);
    const statuses = events.filter((e) => e.event === 'status').map((e) => e.data.status);
    expect(statuses).toEqual(['queued', 'running', 'succeeded']);
    const text = events.filter((e) => e.event === 'token').map((e) => e.data.text).join('');
    const result = events.at(-1)!;
    expect(result.event).toBe('result');
    expect(result.data.status).toBe('succeeded');
    expect(result.data.output.response).toBe(text);
  });

  it('gives every follower of a fast stream each token once, in order, whether it came with its bus message or was read', async () => {
    f = await startFabric();
    await f.addWorker({ tokensPerSecond: 400 }, { preload: ['fake-small:latest'] });
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'p', options: { num_predict: 80 } } } });
    // Followers that join at different moments: some replay first, then take tokens as announced.
    const followers = await Promise.all(
      [0, 20, 60, 120].map(async (delay) => {
        await new Promise((r) => setTimeout(r, delay));
        return readSse(`${f.url}/v1/jobs/${sub.json.id}/events`);
      }),
    );
    for (const events of followers) {
      const result = events.at(-1)!;
      expect(result.data.status).toBe('succeeded');
      expect(events.filter((e) => e.event === 'token').map((e) => e.data.text).join('')).toBe(result.data.output.response);
      const ids = events.filter((e) => e.id).map((e) => e.id!.split('-').map(BigInt));
      for (let i = 1; i < ids.length; i++) expect(ids[i]![0]! > ids[i - 1]![0]! || (ids[i]![0] === ids[i - 1]![0] && ids[i]![1]! > ids[i - 1]![1]!)).toBe(true);
    }
  });

  it('tells every listener to re-read its stream once the bus subscription is back after a drop (messages sent meanwhile are lost)', async () => {
    const sub = newRedis();
    const hub = new EventHub(sub, testKeys());
    await hub.start();
    const seen: JobNotice['type'][] = [];
    const stop = hub.listen('job_x', (n) => seen.push(n.type));
    try {
      sub.disconnect(true); // drops the connection; ioredis reconnects and subscribes again
      await waitFor(async () => seen.includes('resync'), 5_000);
      expect(seen).toEqual(['resync']);
    } finally {
      stop();
      await hub.close();
    }
  });

  it('resumes after Last-Event-ID without repeating or losing events', async () => {
    f = await startFabric();
    await f.addWorker({ tokensPerSecond: 50 }, { preload: ['fake-small:latest'] });
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'p', options: { num_predict: 10 } } } });
    const first = await readSse(`${f.url}/v1/jobs/${sub.json.id}/events`, {}, 3);
    const rest = await readSse(`${f.url}/v1/jobs/${sub.json.id}/events`, { 'Last-Event-ID': first.at(-1)!.id! });
    const all = [...first, ...rest].filter((e) => e.event !== 'result');
    const ids = all.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    const full = await readSse(`${f.url}/v1/jobs/${sub.json.id}/events`);
    expect(ids).toEqual(full.filter((e) => e.event !== 'result').map((e) => e.id));
    expect(rest.at(-1)!.event).toBe('result');
  });

  it('closes a resumed stream of a finished job with the result', async () => {
    f = await startFabric();
    await f.addWorker({}, { preload: ['fake-small:latest'] });
    const done = await call(f.url, '/v1/run', { body: { model: 'fake-small', input: { prompt: 'p' } } });
    const all = await readSse(`${f.url}/v1/jobs/${done.json.id}/events`);
    const lastStatus = all.filter((e) => e.id).at(-1)!;
    const resumed = await readSse(`${f.url}/v1/jobs/${done.json.id}/events`, { 'Last-Event-ID': lastStatus.id! });
    expect(resumed.map((e) => e.event)).toEqual(['result']);
  });

  it('answers 404 before opening a stream for an unknown job', async () => {
    f = await startFabric();
    const r = await call(f.url, '/v1/jobs/job_missing/events');
    expect(r.status).toBe(404);
  });
});
