import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startFabric, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
beforeAll(async () => {
  f = await startFabric({ bodyLimitBytes: 2048 });
  await f.addWorker({});
});
afterAll(async () => f?.close());

async function waiting(): Promise<number> {
  const models = await call(f.url, '/v1/models');
  return models.json.data.find((m: any) => m.id === 'fake-small:latest').queue.waiting;
}

const ok = { model: 'fake-small', input: { prompt: 'x' } };

describe('bad input', () => {
  const cases: { name: string; body: unknown; raw?: string; headers?: Record<string, string>; status: number; code: string }[] = [
    { name: 'malformed JSON', body: undefined, raw: '{"model": "fake-small",', status: 400, code: 'invalid_json' },
    { name: 'a JSON array body', body: [1, 2], status: 400, code: 'invalid_request' },
    { name: 'a model of the wrong type', body: { model: 42, input: { prompt: 'x' } }, status: 400, code: 'invalid_request' },
    { name: 'num_predict as a string', body: { model: 'fake-small', input: { prompt: 'x', options: { num_predict: 'ten' } } }, status: 400, code: 'invalid_request' },
    { name: 'an unknown top-level field', body: { ...ok, modle: 'typo' }, status: 400, code: 'invalid_request' },
    { name: 'an unknown input field', body: { model: 'fake-small', input: { promt: 'x' } }, status: 400, code: 'invalid_request' },
    { name: 'an unknown task', body: { ...ok, task: 'dance' }, status: 400, code: 'invalid_request' },
    { name: 'a chat task without messages', body: { ...ok, task: 'chat' }, status: 422, code: 'invalid_input' },
    { name: 'a chat message with an unknown role', body: { model: 'fake-small', input: { messages: [{ role: 'wizard', content: 'x' }] } }, status: 400, code: 'invalid_request' },
    { name: 'an invalid model name', body: { model: '../etc/passwd', input: { prompt: 'x' } }, status: 400, code: 'invalid_model_name' },
    { name: 'a model no engine has', body: { model: 'llama3.1:8b', input: { prompt: 'x' } }, status: 404, code: 'model_not_found' },
    { name: 'a webhook to a link-local address', body: { ...ok, webhook: { url: 'http://169.254.169.254/latest' } }, status: 422, code: 'webhook_url_refused' },
    { name: 'a webhook url that is not a url', body: { ...ok, webhook: { url: 'not a url' } }, status: 400, code: 'invalid_request' },
    { name: 'an oversized body', body: { ...ok, metadata: { pad: 'x'.repeat(4096) } }, status: 413, code: 'payload_too_large' },
    { name: 'a non-JSON content type', body: undefined, raw: 'model=fake-small', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 'unsupported_media_type' },
    { name: 'a bad Idempotency-Key', body: ok, headers: { 'Idempotency-Key': 'x'.repeat(300) }, status: 400, code: 'invalid_idempotency_key' },
  ];

  for (const c of cases) {
    it(`answers ${c.status} ${c.code} to ${c.name} and enqueues nothing`, async () => {
      const before = await waiting();
      const r = await call(f.url, '/v1/jobs', { body: c.raw ?? c.body, headers: c.headers });
      expect(r.status).toBe(c.status);
      expect(r.json.error.code).toBe(c.code);
      expect(typeof r.json.error.message).toBe('string');
      expect(await waiting()).toBe(before);
    });
  }

  it('answers a bad wait value on a job read with 400', async () => {
    const sub = await call(f.url, '/v1/jobs', { body: ok });
    const r = await call(f.url, `/v1/jobs/${sub.json.id}?wait=soon`);
    expect(r.status).toBe(400);
  });

  it('answers an unknown route with a JSON 404', async () => {
    const r = await call(f.url, '/v2/nothing');
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('route_not_found');
  });

  it('answers an unknown route under /v1 with a 404 in OpenAI error shape, and keeps Ollama 404s as they are', async () => {
    for (const [method, path] of [['GET', '/v1/nope'], ['POST', '/v1/chat/complete'], ['GET', '/v1'], ['DELETE', '/v1/chat/completions']] as const) {
      const r = await call(f.url, path, { method, ...(method === 'POST' ? { body: { model: 'x' } } : {}) });
      expect({ path, status: r.status }).toEqual({ path, status: 404 });
      expect(r.json).toEqual({ error: { message: `no route for ${method} ${path}`, type: 'invalid_request_error', param: null, code: 'route_not_found' } });
    }
    const ollama = await call(f.url, '/api/nope');
    expect(ollama.status).toBe(404);
    expect(ollama.json).toEqual({ error: 'no route for GET /api/nope' });
    const known = await call(f.url, '/v1/jobs/nope');
    expect(known.status).toBe(404);
    expect(known.json.error).toEqual({ code: 'job_not_found', message: expect.any(String) });
  });
});
