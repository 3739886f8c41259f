import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../producer-api/app.ts';
import { apiOptions } from '../producer-api/settings/options.ts';
import { generateWebhookSecret, verifyWebhook } from '../protocol/webhook-signing.ts';
import { call, log, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

let f: TestFabric;
let a: OpenAI;
let b: OpenAI;

beforeAll(async () => {
  f = await startFabric({ apiKeys: new Map([['key-a', 'tenant-a'], ['key-b', 'tenant-b']]) }, { maxFileLines: 50, lineJobTtlMs: 60_000 });
  await f.addWorker({ tokensPerSecond: 0, embeddingLength: 4 }, { preload: ['fake-small:latest'] });
  await f.addWorker({ tokensPerSecond: 20, models: [{ name: 'fake-slow:latest', sizeBytes: 1e9 }] }, { preload: ['fake-slow:latest'] });
  a = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'key-a', maxRetries: 0 });
  b = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'key-b', maxRetries: 0 });
  await waitFor(async () => (await call(f.url, '/api/ps', { headers: { authorization: 'Bearer key-a' } })).json.models.length === 2);
});
afterAll(async () => f?.close());

const chatLine = (id: string, content: string, extra: object = {}, model = 'fake-small') =>
  JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model, messages: [{ role: 'user', content }], max_tokens: 3, ...extra } });

async function upload(client: OpenAI, lines: string[]) {
  return client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'input.jsonl'), purpose: 'batch' });
}

async function until(client: OpenAI, id: string, statuses: string[], ms = 15_000) {
  return waitFor(async () => {
    const batch = await client.batches.retrieve(id);
    return statuses.includes(batch.status) ? batch : null;
  }, ms, 50);
}

async function jsonl(client: OpenAI, fileId: string | null | undefined): Promise<any[]> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text.trim().split('\n').map((l) => JSON.parse(l));
}

describe('Files', () => {
  it('uploads a JSONL file as multipart, lists, retrieves, returns its content and deletes it', async () => {
    const lines = [chatLine('r1', 'one'), chatLine('r2', 'two')];
    const file = await upload(a, lines);
    expect(file).toMatchObject({ object: 'file', purpose: 'batch', filename: 'input.jsonl', bytes: Buffer.byteLength(lines.join('\n') + '\n'), status: 'processed' });
    expect(file.expires_at! - file.created_at).toBe(30 * 24 * 3600);
    expect((await a.files.retrieve(file.id)).id).toBe(file.id);
    const listed = [];
    for await (const x of a.files.list()) listed.push(x.id);
    expect(listed).toContain(file.id);
    expect(await (await a.files.content(file.id)).text()).toBe(lines.join('\n') + '\n');
    expect(await a.files.delete(file.id)).toMatchObject({ id: file.id, deleted: true });
    expect(await a.files.retrieve(file.id).catch((e) => e)).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('refuses a file over the line limit with 413 and one without purpose batch with 400', async () => {
    const tooMany = await upload(a, Array.from({ length: 51 }, (_, i) => chatLine(`r${i}`, 'x'))).catch((e) => e);
    expect(tooMany).toBeInstanceOf(OpenAI.APIError);
    expect(tooMany.status).toBe(413);
    expect(tooMany.code).toBe('file_too_many_lines');
    const wrong = await a.files.create({ file: await toFile(Buffer.from('{}\n'), 'x.jsonl'), purpose: 'fine-tune' }).catch((e) => e);
    expect(wrong).toBeInstanceOf(OpenAI.BadRequestError);
    expect(wrong.param).toBe('purpose');
  });

  it('serves a file whose name a header cannot carry as is, and answers an upload cut short with 400', async () => {
    const name = '💥 "x"\u0001.jsonl';
    const named = `--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--b\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8''${encodeURIComponent(name)}\r\n\r\n${chatLine('r1', 'one')}\r\n--b--\r\n`;
    const odd = (await call(f.url, '/v1/files', { method: 'POST', body: named, headers: { authorization: 'Bearer key-a', 'content-type': 'multipart/form-data; boundary=b' } })).json;
    expect(odd.filename).toBe(name);
    const res = await fetch(`${f.url}/v1/files/${odd.id}/content`, { headers: { authorization: 'Bearer key-a' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain(`filename*=UTF-8''${encodeURIComponent(name).replace(/'/g, '%27')}`);
    const part = `--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="in.jsonl"\r\n\r\n${chatLine('r1', 'one')}`;
    for (const body of [part, part.replace('name="file"', 'name="other"')]) {
      const cut = await call(f.url, '/v1/files', { method: 'POST', body, headers: { authorization: 'Bearer key-a', 'content-type': 'multipart/form-data; boundary=b' } });
      expect(cut.status).toBe(400);
      expect(cut.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_multipart' });
    }
  });
});

describe('Batches', () => {
  it('runs every line as a low-priority job and writes an output file with each custom_id once', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `req-${i}`);
    const file = await upload(a, ids.map((id) => chatLine(id, `question ${id}`)));
    const created = await a.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { purpose: 'test' } });
    expect(created).toMatchObject({ object: 'batch', status: 'validating', input_file_id: file.id, completion_window: '24h', metadata: { purpose: 'test' } });
    const done = await until(a, created.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 12, completed: 12, failed: 0 });
    for (const k of ['in_progress_at', 'finalizing_at', 'completed_at'] as const) expect(done[k]).toBeGreaterThanOrEqual(done.created_at);
    expect(done.error_file_id).toBeNull();
    const out = await jsonl(a, done.output_file_id);
    expect(out.map((l) => l.custom_id).sort()).toEqual([...ids].sort());
    const first = out[0];
    expect(first.id).toMatch(/^batch_req_/);
    expect(first.error).toBeNull();
    expect(first.response.status_code).toBe(200);
    expect(first.response.body).toMatchObject({ object: 'chat.completion', choices: [{ message: { role: 'assistant' }, finish_reason: 'length' }], usage: { completion_tokens: 3 } });
    const job = await call(f.url, `/v1/jobs/${first.response.request_id}`, { headers: { authorization: 'Bearer key-a' } });
    expect(job.json).toMatchObject({ priority: 'low', status: 'succeeded', metadata: { batch_id: created.id, custom_id: first.custom_id } });
    // Once collected, a line's job record is kept only for lineJobTtlMs (the output file is the record).
    const ttl = await f.redis.pttl(f.keys.job(first.response.request_id));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect((await a.files.retrieve(done.output_file_id!)).purpose).toBe('batch_output');
    // The input can be deleted once the batch has ended.
    expect((await a.files.delete(file.id)).deleted).toBe(true);
  });

  it('answers embedding lines in the encoding each line asks for', async () => {
    const lines = [
      JSON.stringify({ custom_id: 'e-float', method: 'POST', url: '/v1/embeddings', body: { model: 'fake-small', input: 'hello', encoding_format: 'float' } }),
      JSON.stringify({ custom_id: 'e-b64', method: 'POST', url: '/v1/embeddings', body: { model: 'fake-small', input: 'hello', encoding_format: 'base64' } }),
    ];
    const batch = await a.batches.create({ input_file_id: (await upload(a, lines)).id, endpoint: '/v1/embeddings', completion_window: '24h' });
    const done = await until(a, batch.id, ['completed', 'failed']);
    const out = Object.fromEntries((await jsonl(a, done.output_file_id)).map((l) => [l.custom_id, l.response.body.data[0].embedding]));
    const decoded = Array.from(new Float32Array(new Uint8Array(Buffer.from(out['e-b64'], 'base64')).buffer));
    expect(decoded).toEqual(out['e-float'].map((x: number) => Math.fround(x)));
  });

  it('fails a batch with a malformed line, reporting its line number from 1', async () => {
    const lines = [chatLine('ok-1', 'fine'), '{"custom_id": "broken", "method": "POST",', chatLine('ok-1', 'duplicate id'), chatLine('ok-3', 'x', {}, 'no-such-model')];
    const batch = await a.batches.create({ input_file_id: (await upload(a, lines)).id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const failed = await until(a, batch.id, ['failed', 'completed']);
    expect(failed.status).toBe('failed');
    expect(failed.failed_at).toBeGreaterThan(0);
    expect(failed.errors!.data!.map((e) => [e.line, e.code])).toEqual([[2, 'invalid_json_line'], [3, 'duplicate_custom_id'], [4, 'model_not_found']]);
    expect(failed.output_file_id).toBeNull();
  });

  it('cancels a batch: running and queued lines stop and are written off as batch_cancelled', async () => {
    const lines = Array.from({ length: 8 }, (_, i) => chatLine(`c-${i}`, 'slow', { max_tokens: 400 }, 'fake-slow'));
    const batch = await a.batches.create({ input_file_id: (await upload(a, lines)).id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await until(a, batch.id, ['in_progress']);
    const cancelling = await a.batches.cancel(batch.id);
    expect(['cancelling', 'cancelled']).toContain(cancelling.status);
    const done = await until(a, batch.id, ['cancelled']);
    expect(done.cancelling_at).toBeGreaterThan(0);
    expect(done.cancelled_at).toBeGreaterThan(0);
    expect(done.request_counts).toEqual({ total: 8, completed: 0, failed: 8 });
    const errors = await jsonl(a, done.error_file_id);
    expect(errors.map((e) => e.custom_id).sort()).toEqual(lines.map((_, i) => `c-${i}`).sort());
    expect(errors.every((e) => e.error.code === 'batch_cancelled' && e.response === null)).toBe(true);
    expect(await a.batches.cancel(batch.id).catch((e) => e)).toBeInstanceOf(OpenAI.ConflictError);
  });

  it('expires a batch when its completion window passes: finished lines are kept, the rest end batch_expired', async () => {
    // Two quick lines finish at once; the slow ones (20 s each) cannot finish within 2 s.
    const lines = [chatLine('quick-0', 'a', {}, 'fake-slow'), chatLine('quick-1', 'b', {}, 'fake-slow'), ...Array.from({ length: 6 }, (_, i) => chatLine(`slow-${i}`, 'z', { max_tokens: 400 }, 'fake-slow'))];
    const batch = await a.batches.create({ input_file_id: (await upload(a, lines)).id, endpoint: '/v1/chat/completions', completion_window: '2s' as '24h' }); // the fabric accepts short windows as an extension
    const done = await until(a, batch.id, ['expired', 'completed']);
    expect(done.status).toBe('expired');
    expect(done.expired_at).toBeGreaterThanOrEqual(done.expires_at!);
    expect(done.request_counts).toEqual({ total: 8, completed: 2, failed: 6 });
    expect((await jsonl(a, done.output_file_id)).map((l) => l.custom_id).sort()).toEqual(['quick-0', 'quick-1']);
    const errors = await jsonl(a, done.error_file_id);
    expect(errors).toHaveLength(6);
    expect(errors.every((e) => e.error.code === 'batch_expired')).toBe(true);
  });

  it('keeps tenants apart: tenant B sees none of tenant A\'s files and batches', async () => {
    const file = await upload(a, [chatLine('t-1', 'x')]);
    const batch = await a.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    expect(await b.files.retrieve(file.id).catch((e) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await b.files.content(file.id).catch((e) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await b.files.delete(file.id).catch((e) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await b.batches.retrieve(batch.id).catch((e) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await b.batches.cancel(batch.id).catch((e) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await b.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }).catch((e) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    const bFiles = [];
    for await (const x of b.files.list()) bFiles.push(x.id);
    expect(bFiles).not.toContain(file.id);
    const bBatches = [];
    for await (const x of b.batches.list()) bBatches.push(x.id);
    expect(bBatches).toEqual([]);
    const aBatches = [];
    for await (const x of a.batches.list({ limit: 2 })) aBatches.push(x.id);
    expect(aBatches[0]).toBe(batch.id);
    expect(aBatches.length).toBeGreaterThan(2); // paged with after=
    const noKey = await call(f.url, '/v1/batches');
    expect(noKey.status).toBe(401);
    expect(noKey.json.error.type).toBe('authentication_error');
  });

  it('sends a signed batch.completed webhook to the URL in metadata.webhook_url', async () => {
    const secret = generateWebhookSecret();
    await f.startWebhooks(secret);
    const got: { headers: IncomingHttpHeaders; body: string }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        got.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const batch = await a.batches.create({ input_file_id: (await upload(a, [chatLine('w-1', 'x')])).id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { webhook_url: url } });
      await waitFor(async () => got.length >= 1, 10_000, 50);
      const event = JSON.parse(got[0]!.body);
      expect(event).toMatchObject({ type: 'batch.completed', data: { id: batch.id, status: 'completed', request_counts: { total: 1, completed: 1, failed: 0 } } });
      expect(verifyWebhook(secret, got[0]!.headers, got[0]!.body).ok).toBe(true);
      const refused = await a.batches.create({ input_file_id: (await upload(a, [chatLine('w-2', 'x')])).id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { webhook_url: 'http://10.0.0.1/hook' } }).catch((e) => e);
      expect(refused.status).toBe(422);
    } finally {
      await new Promise((r) => receiver.close(r));
    }
  });

  it('is continued by another API instance when the one driving it stops, each line written once', async () => {
    const lines = Array.from({ length: 10 }, (_, i) => chatLine(`m-${i}`, 'move', { max_tokens: 6 }, 'fake-slow'));
    const batch = await a.batches.create({ input_file_id: (await upload(a, lines)).id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitFor(async () => (await a.batches.retrieve(batch.id)).request_counts!.completed >= 2, 10_000, 20);
    await f.api.batch.close(); // this instance stops driving (its lease is released)
    const partial = await a.batches.retrieve(batch.id);
    expect(partial.status).toBe('in_progress');
    const other = createApi(apiOptions({ apiKeys: new Map([['key-a', 'tenant-a']]) }), { redis: f.redis, keys: f.keys, log, batch: { tickMs: 100 } });
    await other.ready();
    try {
      const done = await until(a, batch.id, ['completed'], 20_000);
      expect(done.request_counts).toEqual({ total: 10, completed: 10, failed: 0 });
      const out = await jsonl(a, done.output_file_id);
      expect(out.map((l) => l.custom_id).sort()).toEqual(lines.map((_, i) => `m-${i}`).sort());
    } finally {
      await other.close();
    }
  });
});
