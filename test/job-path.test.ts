import { afterEach, describe, expect, it } from 'vitest';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
afterEach(async () => f?.close());

const chat = (model = 'fake-small', extra: Record<string, unknown> = {}) => ({
  model,
  task: 'chat',
  input: { messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 5 } },
  ...extra,
});

describe('job path', () => {
  it('runs a submitted chat job on a worker with the model resident and reports it succeeded', async () => {
    f = await startFabric();
    await f.addWorker({}, { preload: ['fake-small:latest'] });
    const sub = await call(f.url, '/v1/jobs', { body: chat() });
    expect(sub.status).toBe(202);
    expect(sub.headers.get('location')).toBe(`/v1/jobs/${sub.json.id}`);
    expect(sub.json.status).toMatch(/queued|running/);
    const done = await call(f.url, `/v1/jobs/${sub.json.id}?wait=10`);
    expect(done.status).toBe(200);
    expect(done.json.status).toBe('succeeded');
    expect(done.json.model).toBe('fake-small:latest');
    expect(done.json.output.message.role).toBe('assistant');
    expect(done.json.output.message.content.split(' ')).toHaveLength(5);
    expect(done.json.usage.completion_tokens).toBe(5);
    expect(done.json.timings.total_ms).toBeGreaterThanOrEqual(0);
  });
});
