/** The client's calls against a real fabric (API, worker with the fake engine, Redis). */
import { toJobEvent } from '../client/src/event-stream.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FabricClient, FabricError, type JobEvent } from '../client/src/index.ts';
import { startFabric, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
let client: FabricClient;
beforeAll(async () => {
  f = await startFabric();
  await f.addWorker({}, { preload: ['fake-small:latest'] });
  client = new FabricClient({ baseUrl: f.url });
});
afterAll(() => f?.close());

describe('client calls', () => {
  it('generate, chat and embed return results; create with wait returns the finished job', async () => {
    const g = await client.generate({ model: 'fake-small', prompt: 'hello', options: { num_predict: 6 } });
    expect(g.job.status).toBe('succeeded');
    expect(g.text.trim().split(/\s+/)).toHaveLength(6);
    const c = await client.chat({ model: 'fake-small', messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 3 } });
    expect(c.message.role).toBe('assistant');
    expect(c.message.content.trim().split(/\s+/)).toHaveLength(3);
    const e = await client.embed({ model: 'fake-small', input: ['a', 'b'] });
    expect(e.embeddings).toHaveLength(2);
    const waited = await client.jobs.create({ model: 'fake-small', input: { prompt: 'quick', options: { num_predict: 2 } } }, { wait: 10 });
    expect(waited.status).toBe('succeeded');
    expect((await client.models.list()).map((m) => m.id)).toContain('fake-small:latest');
  });

  it('jobs.stream yields the tokens of the job it submits; events are typed and end with the result', async () => {
    const stream = client.jobs.stream({ model: 'fake-small', input: { prompt: 'stream me', options: { num_predict: 8 } } });
    const tokens: string[] = [];
    for await (const t of stream) tokens.push(t);
    const job = await stream.result;
    expect(tokens.join('')).toBe(job.output?.response);
    const events: JobEvent[] = [];
    for await (const ev of client.jobs.events(job.id)) events.push(ev);
    expect(events.filter((e) => e.type === 'status').map((e) => (e as { status: string }).status)).toEqual(['queued', 'running', 'succeeded']);
    expect(events.at(-1)).toMatchObject({ type: 'result', job: { id: job.id, status: 'succeeded' } });
  });

  it('a job that fails surfaces as a FabricError with its code and id; jobs.retry runs it again; cancel ends a queued one', async () => {
    const err = await client.generate({ model: 'fake-small', prompt: 'FAIL:engine_error' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FabricError);
    expect(err).toMatchObject({ code: 'engine_error', retryable: false, status: null });
    const id = (err as FabricError).jobId!;
    expect(id).toMatch(/^job_/);
    const again = await client.jobs.retry(id);
    expect(['queued', 'running', 'failed']).toContain(again.status);
    expect((await client.jobs.wait(id, { timeoutMs: 10_000 })).status).toBe('failed');
    await expect(client.jobs.retry('job_missing')).rejects.toMatchObject({ status: 404, code: 'job_not_found' });

    const parked = await client.jobs.create({ model: 'fake-large', input: { prompt: 'never loaded' } });
    expect((await client.jobs.cancel(parked.id)).status).toBe('canceled');
    await expect(client.jobs.cancel(parked.id)).rejects.toMatchObject({ status: 409, code: 'job_finished', jobId: parked.id });
  });
});

describe('client: event parsing', () => {
  it('types a delta event (a tool call piece) and skips kinds it does not know', () => {
    const delta = toJobEvent({ id: '1-2', event: 'delta', data: '{"type":"tool_call_start","index":0,"id":"call_x","name":"lookup"}' });
    expect(delta).toEqual({ type: 'delta', id: '1-2', delta: { type: 'tool_call_start', index: 0, id: 'call_x', name: 'lookup' } });
    expect(toJobEvent({ id: '1-3', event: 'citation', data: '{}' })).toBeNull();
  });
});
