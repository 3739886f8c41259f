/**
 * The client's resumable event stream against a real fabric whose API runs as its own
 * process: the API is SIGKILLed mid-stream and started again; the iterator must finish with
 * every token once, in order, exactly as the job's event stream in Redis holds them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FabricClient, type Job } from '../client/src/index.ts';
import { apiProcess, type ApiProcess } from './support/api-process.ts';
import { startFabric, type TestFabric } from './support/fabric.ts';

let f: TestFabric | undefined;
let api: ApiProcess | undefined;
afterEach(async () => {
  await api?.kill();
  await f?.close();
  api = f = undefined;
});

describe('client: jobs.events() across an API restart', () => {
  it('finishes with every token exactly once, in order, after the API process is killed and restarted mid-stream', async () => {
    f = await startFabric();
    await f.addWorker({ tokensPerSecond: 25 }, { preload: ['fake-small:latest'] });
    api = await apiProcess(f.keys.prefix);
    await api.start();
    const client = new FabricClient({
      baseUrl: api.url,
      retry: { initialDelayMs: 50, maxDelayMs: 500 },
      breaker: { halfOpenAfterMs: 250 },
      stream: { maxReconnects: 100 },
    });
    const job = await client.jobs.create({ model: 'fake-small', input: { prompt: 'resume me', options: { num_predict: 120 } } });

    const tokens: { id: string; text: string }[] = [];
    let final: Job | undefined;
    let restarted: Promise<void> | undefined;
    let killedAt = 0;
    let tokensAtKill = 0;
    for await (const ev of client.jobs.events(job.id)) {
      if (ev.type === 'token') {
        tokens.push({ id: ev.id, text: ev.text });
        if (tokens.length === 5 && !restarted) {
          await api.kill();
          killedAt = Date.now();
          tokensAtKill = tokens.length;
          restarted = api.start();
        }
      }
      if (ev.type === 'result') final = ev.job;
    }
    await restarted;
    const downMs = Date.now() - killedAt;

    expect(killedAt).toBeGreaterThan(0);
    expect(final?.status).toBe('succeeded');
    // Ground truth: the token events as the job's Redis stream holds them.
    const stream = await f.redis.xrange(f.keys.jobEvents(job.id), '-', '+');
    const stored = stream
      .map(([id, fields]) => ({ id, type: fields[fields.indexOf('type') + 1], data: fields[fields.indexOf('data') + 1]! }))
      .filter((e) => e.type === 'token')
      .map((e) => ({ id: e.id, text: e.data }));
    expect(tokens).toEqual(stored);
    expect(new Set(tokens.map((t) => t.id)).size).toBe(tokens.length);
    expect(tokens.map((t) => t.text).join('')).toBe(final!.output!.response);
    expect(final!.output!.response!.trim().split(/\s+/)).toHaveLength(120);
    console.info(`events resumed across an API SIGKILL + restart: ${tokensAtKill} tokens before the kill, ${tokens.length - tokensAtKill} after (${tokens.length} events, none lost or repeated); iteration ended ${downMs} ms after the kill`);
  }, 90_000);
});
