/** `client.jobs`: submit, read, long-poll, stream, cancel and retry jobs. */
import { FabricError } from './fabric-error.ts';
import { jobEvents, type EventsOptions } from './event-stream.ts';
import type { ResolvedOptions } from './options.ts';
import { TokenStream } from './token-stream.ts';
import type { Transport } from './transport.ts';
import { isTerminalStatus, type Job, type JobEvent, type JobRequest } from './types.ts';

export interface CreateOptions {
  /** Same key, same job: a retry (by this client or by you) never creates a second one. Generated when omitted. */
  idempotencyKey?: string;
  /** Seconds to wait for the job to finish before answering (`Prefer: wait=N`). */
  wait?: number;
  signal?: AbortSignal;
}

export interface WaitOptions {
  /** Give up (FabricError `timeout`, retryable) after this long; default: wait as long as it takes. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** When `signal` aborts, also cancel the job on the fabric (sent at once, in the background). */
  cancelOnAbort?: boolean;
}

export interface StreamEventsOptions extends EventsOptions {
  cancelOnAbort?: boolean;
}

const path = (id: string, tail = '') => `/v1/jobs/${encodeURIComponent(id)}${tail}`;

/**
 * A fresh idempotency key: a random (version 4) UUID. Browsers offer `crypto.randomUUID` only in
 * secure contexts (https or localhost), while `crypto.getRandomValues` works on any page, so a
 * page served over plain http from another host builds the UUID from random bytes itself.
 */
export const newIdempotencyKey = (): string => {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

export class Jobs {
  private readonly t: Transport;
  private readonly o: ResolvedOptions;
  constructor(
    t: Transport,
    o: ResolvedOptions,
  ) {
    this.t = t;
    this.o = o;
  }

  /** Submits a job. Every attempt carries the same `Idempotency-Key`, so retries never duplicate it. */
  async create(body: JobRequest, opts: CreateOptions = {}): Promise<Job> {
    const headers: Record<string, string> = { 'idempotency-key': opts.idempotencyKey ?? newIdempotencyKey() };
    if (opts.wait !== undefined) headers.prefer = `wait=${Math.max(0, Math.floor(opts.wait))}`;
    const res = await this.t.json<Job>({ method: 'POST', path: '/v1/jobs', body, headers, signal: opts.signal, timeoutMs: this.o.timeoutMs + (opts.wait ?? 0) * 1000 });
    return res.body;
  }

  /** Reads a job; with `wait`, long-polls up to that many seconds for it to finish. */
  async get(id: string, opts: { wait?: number; signal?: AbortSignal } = {}): Promise<Job> {
    const query = opts.wait !== undefined ? `?wait=${Math.max(0, Math.floor(opts.wait))}` : '';
    const res = await this.t.json<Job>({ method: 'GET', path: path(id) + query, signal: opts.signal, jobId: id, timeoutMs: this.o.timeoutMs + (opts.wait ?? 0) * 1000 });
    return res.body;
  }

  /** Long-polls until the job is terminal and returns it, whatever its final status. */
  async wait(id: string, opts: WaitOptions = {}): Promise<Job> {
    const deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : Infinity;
    const cancelOnAbort = this.cancelOnAbort(id, opts);
    try {
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) throw new FabricError({ status: null, code: 'timeout', message: `job ${id} did not finish within ${opts.timeoutMs} ms`, retryable: true, jobId: id });
        const waitSec = Math.max(1, Math.min(this.o.pollWaitSec, Math.ceil(left / 1000)));
        const job = await this.get(id, { wait: waitSec, signal: opts.signal });
        if (isTerminalStatus(job.status)) return job;
      }
    } finally {
      cancelOnAbort();
    }
  }

  /**
   * The job's events, resuming with `Last-Event-ID` after a broken connection or an API
   * restart: each event once, in order, ending with `{type: 'result', job}`.
   */
  async *events(id: string, opts: StreamEventsOptions = {}): AsyncGenerator<JobEvent, void, undefined> {
    const cancelOnAbort = this.cancelOnAbort(id, opts);
    try {
      yield* jobEvents(this.t, this.o, id, opts);
    } finally {
      cancelOnAbort();
    }
  }

  /** Submits a job when iteration starts and yields its tokens (`.result` has the finished job). */
  stream(body: JobRequest, opts: CreateOptions & { cancelOnAbort?: boolean } = {}): TokenStream {
    const createOpts = { ...opts, idempotencyKey: opts.idempotencyKey ?? newIdempotencyKey() };
    const self = this;
    return new TokenStream(async function* () {
      const job = await self.create(body, createOpts);
      yield* self.events(job.id, { signal: opts.signal, cancelOnAbort: opts.cancelOnAbort });
    });
  }

  /** Cancels a job: a queued one is removed, a running one aborted at its engine. */
  async cancel(id: string, opts: { signal?: AbortSignal } = {}): Promise<Job> {
    return (await this.t.json<Job>({ method: 'POST', path: path(id, '/cancel'), signal: opts.signal, jobId: id })).body;
  }

  /** Runs a failed, timed-out, expired or canceled job again under the same id. */
  async retry(id: string, opts: { signal?: AbortSignal } = {}): Promise<Job> {
    return (await this.t.json<Job>({ method: 'POST', path: path(id, '/retry'), signal: opts.signal, jobId: id })).body;
  }

  /** With `cancelOnAbort`, cancels the job when the signal fires; returns the detach function. */
  private cancelOnAbort(id: string, opts: { signal?: AbortSignal; cancelOnAbort?: boolean }): () => void {
    const { signal } = opts;
    if (!signal || !opts.cancelOnAbort) return () => undefined;
    const onAbort = () => void this.cancel(id).catch(() => undefined);
    if (signal.aborted) {
      onAbort();
      return () => undefined;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    return () => signal.removeEventListener('abort', onAbort);
  }
}
