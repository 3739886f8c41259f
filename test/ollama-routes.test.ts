import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startFabric, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
beforeAll(async () => {
  f = await startFabric();
  await f.addWorker({ tokensPerSecond: 500 }, { preload: ['fake-small:latest'] });
});
afterAll(async () => f?.close());

async function ndjson(path: string, body: unknown) {
  const res = await fetch(f.url + path, { method: 'POST', body: JSON.stringify(body) });
  const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
  return { res, lines };
}

const FINAL_FIELDS = ['total_duration', 'load_duration', 'prompt_eval_count', 'prompt_eval_duration', 'eval_count', 'eval_duration'];

describe('Ollama-compatible routes', () => {
  it('streams /api/generate as NDJSON chunks ending with a done chunk carrying Ollama final fields', async () => {
    const { res, lines } = await ndjson('/api/generate', { model: 'fake-small', prompt: 'why is the sky blue', options: { num_predict: 5 } });
    expect(res.headers.get('content-type')).toContain('application/x-ndjson');
    expect(res.headers.get('x-fabric-job-id')).toMatch(/^job_/);
    const last = lines.at(-1);
    expect(last.done).toBe(true);
    expect(last.done_reason).toBe('length');
    for (const k of FINAL_FIELDS) expect(typeof last[k]).toBe('number');
    expect(last.eval_count).toBe(5);
    const text = lines.slice(0, -1).map((l) => l.response).join('');
    expect(lines.slice(0, -1).every((l) => l.done === false && l.model === 'fake-small:latest')).toBe(true);
    expect(text.split(' ')).toHaveLength(5);
  });

  it('answers /api/generate with stream false in one object', async () => {
    const r = await call(f.url, '/api/generate', { body: { model: 'fake-small', prompt: 'hi', stream: false, options: { num_predict: 3, seed: 7 } } });
    expect(r.status).toBe(200);
    expect(r.json.done).toBe(true);
    expect(r.json.response.split(' ')).toHaveLength(3);
    for (const k of FINAL_FIELDS) expect(typeof r.json[k]).toBe('number');
  });

  it('streams /api/chat with assistant message chunks, and answers it non-streaming too', async () => {
    const body = { model: 'fake-small', messages: [{ role: 'user', content: 'hello' }], options: { num_predict: 4 } };
    const { lines } = await ndjson('/api/chat', body);
    expect(lines.at(-1)).toMatchObject({ done: true, message: { role: 'assistant', content: '' } });
    const streamed = lines.slice(0, -1).map((l) => l.message.content).join('');
    const one = await call(f.url, '/api/chat', { body: { ...body, stream: false } });
    expect(one.json.message).toEqual({ role: 'assistant', content: streamed });
    expect(one.json.eval_count).toBe(4);
  });

  it('honours stop sequences like Ollama', async () => {
    const full = await call(f.url, '/api/generate', { body: { model: 'fake-small', prompt: 's', stream: false, options: { num_predict: 6 } } });
    const words = full.json.response.split(' ');
    const cut = await call(f.url, '/api/generate', { body: { model: 'fake-small', prompt: 's', stream: false, options: { num_predict: 6, stop: [` ${words[2]}`] } } });
    expect(cut.json.done_reason).toBe('stop');
    expect(full.json.response.startsWith(cut.json.response)).toBe(true);
    expect(cut.json.response.length).toBeLessThan(full.json.response.length);
  });

  it('answers an empty prompt as a load request without queueing a job', async () => {
    const r = await call(f.url, '/api/generate', { body: { model: 'fake-small' } });
    expect(r.json).toMatchObject({ done: true, done_reason: 'load', response: '' });
  });

  it('uses Ollama error shapes: 404 for an unknown model, 400 for bad input', async () => {
    const missing = await call(f.url, '/api/generate', { body: { model: 'nope:1b', prompt: 'x' } });
    expect(missing.status).toBe(404);
    expect(typeof missing.json.error).toBe('string');
    const bad = await call(f.url, '/api/chat', { body: { model: 'fake-small', messages: 'hi' } });
    expect(bad.status).toBe(400);
    expect(typeof bad.json.error).toBe('string');
    const broken = await call(f.url, '/api/chat', { body: '{"model":' });
    expect(broken.status).toBe(400);
  });

  it('returns embeddings from /api/embed', async () => {
    const r = await call(f.url, '/api/embed', { body: { model: 'fake-small', input: ['a', 'b', 'c'] } });
    expect(r.status).toBe(200);
    expect(r.json.embeddings).toHaveLength(3);
  });

  it('lists the catalog in /api/tags and cluster-wide residency in /api/ps', async () => {
    const tags = await call(f.url, '/api/tags');
    expect(tags.json.models.map((m: any) => m.name)).toEqual(['fake-large:latest', 'fake-small:latest']);
    expect(tags.json.models[1]).toMatchObject({ size: 1_000_000_000, details: { format: 'gguf' } });
    const ps = await call(f.url, '/api/ps');
    expect(ps.json.models).toHaveLength(1);
    expect(ps.json.models[0]).toMatchObject({ name: 'fake-small:latest', size: 1_000_000_000, replicas: [{ worker: f.workers[0]!.id }] });
    expect(typeof ps.json.models[0].expires_at).toBe('string');
    const show = await call(f.url, '/api/show', { body: { model: 'fake-small' } });
    expect(show.json).toMatchObject({ details: { format: 'gguf', family: 'fake' }, capabilities: ['completion'], model_info: { 'general.architecture': 'fake' } });
    expect((await call(f.url, '/api/show', { body: { model: 'nope' } })).status).toBe(404);
    const version = await call(f.url, '/api/version');
    expect(version.json.version).toMatch(/\d+\.\d+\.\d+/);
  });
});
