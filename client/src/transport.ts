/**
 * Every HTTP call goes through here: one attempt is fetch + per-attempt timeout + error
 * mapping inside the circuit breaker; attempts are repeated by the retry policy. The caller's
 * AbortSignal ends the whole call at once, including a backoff in progress.
 */
import { FabricError, errorFromResponse } from './fabric-error.ts';
import type { ResolvedOptions } from './options.ts';
import { breakerFor, type Breaker, retryPolicy } from './policies.ts';
import { abortedError, childController, raceAbort } from './signals.ts';

export interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Per attempt; defaults to the client's `timeoutMs`. */
  timeoutMs?: number;
  /** Defaults to the client's `maxRetries`. */
  maxRetries?: number;
  /** Also retry while the circuit is open, after its `retryAfterMs` (streams resuming do). */
  retryCircuitOpen?: boolean;
  /** Put on errors for this call. */
  jobId?: string;
}

/** An open response whose body the caller reads; `release()` once done with it. */
export interface OpenResponse {
  res: Response;
  /** Aborted when the caller aborts or the attempt times out. */
  signal: AbortSignal;
  /** Aborts the body (e.g. an idle stream). */
  abort(): void;
  release(): void;
}

const TIMEOUT = Symbol('timeout');

export class Transport {
  readonly breaker: Breaker | null;

  private readonly o: ResolvedOptions;
  constructor(o: ResolvedOptions) {
    this.o = o;
    this.breaker = o.breaker ? breakerFor(o.baseUrl, o.breaker) : null;
  }

  /** A JSON call with retries; returns the parsed body with status and headers. */
  async json<T>(spec: RequestSpec): Promise<{ body: T; status: number; headers: Headers }> {
    return this.send(spec, async (open) => {
      let text: string;
      try {
        text = await open.res.text();
      } catch (err) {
        // The connection broke mid-body: as retryable as a failed fetch.
        throw this.failure(err, open.signal, spec);
      } finally {
        open.release();
      }
      try {
        return { body: JSON.parse(text) as T, status: open.res.status, headers: open.res.headers };
      } catch {
        throw new FabricError({ status: open.res.status, code: 'invalid_response', message: `expected JSON from ${spec.path}, got ${text.slice(0, 80)}`, retryable: false, jobId: spec.jobId });
      }
    });
  }

  /** Opens a streaming response (2xx) with retries; the timeout covers only the headers. */
  async stream(spec: RequestSpec): Promise<OpenResponse> {
    return this.send(spec, async (open) => open, true);
  }

  private async send<T>(spec: RequestSpec, use: (open: OpenResponse) => Promise<T>, streaming = false): Promise<T> {
    const policy = retryPolicy(this.o.retry, spec.maxRetries ?? this.o.maxRetries, (e) => e.retryable && (e.code !== 'circuit_open' || spec.retryCircuitOpen === true));
    const once = () => {
      if (spec.signal?.aborted) throw abortedError(spec.jobId);
      const call = () => this.attempt(spec, streaming).then(use);
      return this.breaker ? this.breaker.execute(call, this.o.baseUrl) : call();
    };
    return raceAbort(policy.execute(once), spec.signal, spec.jobId);
  }

  /** One request: resolves with a 2xx response, or throws a FabricError. */
  private async attempt(spec: RequestSpec, streaming: boolean): Promise<OpenResponse> {
    const { controller, release: detach } = childController(spec.signal);
    const timer = setTimeout(() => controller.abort(TIMEOUT), spec.timeoutMs ?? this.o.timeoutMs);
    const release = () => {
      clearTimeout(timer);
      detach();
    };
    const headers: Record<string, string> = { accept: streaming ? 'text/event-stream' : 'application/json', ...this.o.headers, ...spec.headers };
    if (this.o.apiKey) headers.authorization = `Bearer ${this.o.apiKey}`;
    if (spec.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.o.fetch(this.o.baseUrl + spec.path, {
        method: spec.method,
        headers,
        body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
        signal: controller.signal,
      });
    } catch (err) {
      release();
      throw this.failure(err, controller.signal, spec);
    }
    if (streaming) clearTimeout(timer);
    if (res.ok) return { res, signal: controller.signal, abort: () => controller.abort(TIMEOUT), release };
    let body: unknown = null;
    try {
      body = JSON.parse(await res.text());
    } catch {
      body = null;
    } finally {
      release();
    }
    throw errorFromResponse(res.status, body, res.headers, spec.jobId);
  }

  /** Maps what fetch threw into a FabricError that says whether to retry. */
  private failure(err: unknown, signal: AbortSignal, spec: RequestSpec): FabricError {
    if (err instanceof FabricError) return err;
    if (signal.aborted && signal.reason === TIMEOUT) {
      return new FabricError({ status: null, code: 'timeout', message: `${spec.method} ${spec.path} took longer than ${spec.timeoutMs ?? this.o.timeoutMs} ms`, retryable: true, jobId: spec.jobId, cause: err });
    }
    if (signal.aborted || spec.signal?.aborted) return abortedError(spec.jobId);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code ?? cause?.message ?? (err as Error).message;
    return new FabricError({ status: null, code: 'connection_error', message: `${spec.method} ${spec.path} failed: ${detail}`, retryable: true, jobId: spec.jobId, cause: err });
  }
}
