/**
 * One spelling of every error code: the client's union (client/src/error-codes.ts) is what the
 * server is typed with. These tests check that nothing the server sends falls outside it, by
 * reading the server's source and by provoking real answers from a running fabric.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { CLIENT_ERROR_CODES, FabricClient, HTTP_ERROR_CODES, JOB_ERROR_CODES, isErrorCode, type HttpErrorCode, type JobErrorCode } from '../client/src/index.ts';
import type { HttpError } from '../producer-api/http/http-error.ts';
import type { EngineErrorCode } from '../protocol/errors.ts';
import type { JobError } from '../protocol/job.ts';
import { call, startFabric, type TestFabric } from './support/fabric.ts';

const root = resolve(import.meta.dirname, '..');
/** Literals that look like codes in the source but are never sent (mapped before they leave). */
const INTERNAL_ONLY = new Set(['already_everywhere']); // fleet-view's LoadPick; the route answers no_worker_with_room

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'gpu' ? [] : sourceFiles(p); // worker/gpu: NVML/driver result codes, not fabric errors
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** Every string literal in a position where the server sets an error code. */
function codesInSource(): Map<string, string> {
  const found = new Map<string, string>();
  const patterns = [
    /HttpError\(\s*[^,]+,\s*'([a-z_]+)'/g,
    /\b(?:badRequest|notFound|conflict|unavailable)\(\s*'([a-z_]+)'/g,
    /\bcode:\s*'([a-z_]+)'/g,
    /\?\s*'([a-z_]+)'\s*:\s*\(?\s*engineErr/g,
  ];
  for (const file of ['producer-api', 'worker', 'protocol', 'scheduler'].flatMap((d) => sourceFiles(join(root, d)))) {
    const text = readFileSync(file, 'utf8');
    for (const re of patterns) for (const m of text.matchAll(re)) found.set(m[1]!, file.slice(root.length + 1));
    const engine = /export type EngineErrorCode =([^;]+);/.exec(text);
    if (engine) for (const m of engine[1]!.matchAll(/'([a-z_]+)'/g)) found.set(m[1]!, file.slice(root.length + 1));
  }
  return found;
}

let f: TestFabric | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

describe('error codes', () => {
  it('the server is typed with the client union: HttpError, JobError and engine codes', () => {
    expectTypeOf<HttpError['code']>().toEqualTypeOf<HttpErrorCode>();
    expectTypeOf<JobError['code']>().toEqualTypeOf<JobErrorCode>();
    expectTypeOf<EngineErrorCode>().toMatchTypeOf<JobErrorCode>();
  });

  it('every code literal in the server source is in the union', () => {
    const found = codesInSource();
    // The scan must really find the codes (a broken pattern would pass vacuously).
    for (const known of ['backlog_full', 'job_not_found', 'not_ready', 'idempotency_conflict', 'timed_out', 'worker_shutdown', 'engine_busy', 'invalid_json']) {
      expect([...found.keys()], known).toContain(known);
    }
    const unknown = [...found].filter(([code]) => !isErrorCode(code) && !INTERNAL_ONLY.has(code));
    expect(unknown).toEqual([]);
    expect(found.size).toBeGreaterThan(25);
  });

  it('the lists have no duplicates and client-only codes are kept apart', () => {
    for (const list of [HTTP_ERROR_CODES, JOB_ERROR_CODES, CLIENT_ERROR_CODES]) expect(new Set(list).size).toBe(list.length);
    expect(isErrorCode('circuit_open')).toBe(true);
    expect(isErrorCode('no_such_code')).toBe(false);
  });

  it('answers a running fabric gives to bad requests, and failed jobs, carry codes in the union', async () => {
    f = await startFabric();
    await f.addWorker({}, { preload: ['fake-small:latest'] });
    const answers = await Promise.all([
      call(f.url, '/v1/nothing'),
      call(f.url, '/v1/jobs/job_missing'),
      call(f.url, '/v1/jobs', { body: '{"model":' }),
      call(f.url, '/v1/jobs', { body: { model: 'fake-small' } }),
      call(f.url, '/v1/jobs', { body: { model: 'no-such-model', input: { prompt: 'x' } } }),
      call(f.url, '/v1/jobs', { body: { model: 'fake-small', task: 'chat', input: { prompt: 'x' } } }),
      call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'x' } }, headers: { 'idempotency-key': ' ' } }),
      call(f.url, '/v1/jobs?x=1', { method: 'POST', body: 'plain', headers: { 'content-type': 'text/plain' } }),
    ]);
    for (const a of answers) {
      expect(a.status).toBeGreaterThanOrEqual(400);
      expect(isErrorCode(a.json?.error?.code), `${a.status} ${a.text}`).toBe(true);
    }
    const client = new FabricClient({ baseUrl: f.url });
    for (const code of ['engine_error', 'out_of_memory', 'model_not_found']) {
      const job = await client.jobs.create({ model: 'fake-small', input: { prompt: `FAIL:${code}` } });
      const ended = await client.jobs.wait(job.id, { timeoutMs: 15_000 });
      expect(ended.status).toBe('failed');
      expect(ended.error?.code).toBe(code);
      expect(isErrorCode(ended.error?.code)).toBe(true);
    }
  });
});
