/**
 * Ollama's HTTP API as typed calls: JSON answers and NDJSON streams, every failure turned
 * into an EngineError. Timeouts are our own signals (undici's header and body timeouts are
 * off), so a load may take minutes while a short call still fails fast.
 */
import { Agent, fetch, type Response } from 'undici';
import { EngineError } from '../../../protocol/errors.ts';
import { mapOllamaError, transportError } from './errors.ts';
import { readNdjson } from './ndjson.ts';

export interface CallOptions {
  /** The caller's signal: aborting it closes the request and rejects with `aborted`. */
  signal?: AbortSignal;
  /** Our own limit for the whole call; `null` for none (the caller's signal bounds it). */
  timeoutMs?: number | null;
}

/** The `error` text of an Ollama error body, or the body itself when it is not JSON. */
function errorText(body: string, fallback: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON: use the text as it is
  }
  return body.trim() || fallback;
}

export class OllamaClient {
  private readonly agent: Agent;

  private readonly baseUrl: string;
  private readonly defaultTimeoutMs: number;
  constructor(
    baseUrl: string,
    defaultTimeoutMs: number,
  ) {
    this.baseUrl = baseUrl;
    this.defaultTimeoutMs = defaultTimeoutMs;
    this.agent = new Agent({ headersTimeout: 0, bodyTimeout: 0, connect: { timeout: defaultTimeoutMs } });
  }

  /** A call answered with one JSON object. */
  async json<T>(method: 'GET' | 'POST', path: string, body?: unknown, opts: CallOptions = {}): Promise<T> {
    const { res, signal } = await this.send(method, path, body, opts);
    try {
      return (await res.json()) as T;
    } catch (err) {
      if (err instanceof SyntaxError && !signal?.aborted) {
        throw new EngineError('engine_error', `${method} ${path}: ollama answered with invalid JSON`, { cause: err });
      }
      throw transportError(err, `${method} ${path}`, opts.signal);
    }
  }

  /** A call whose answer carries nothing but its status (`DELETE /api/delete`). */
  async ok(method: 'DELETE' | 'POST', path: string, body?: unknown, opts: CallOptions = {}): Promise<void> {
    const { res } = await this.send(method, path, body, opts);
    await res.arrayBuffer().catch(() => undefined);
  }

  /** A streaming call: yields each NDJSON object; an `{"error"}` line throws its mapped error. */
  async *stream<T extends { error?: string }>(path: string, body: unknown, opts: CallOptions = {}): AsyncGenerator<T, void, undefined> {
    const { res } = await this.send('POST', path, body, opts);
    if (!res.body) throw new EngineError('engine_error', `POST ${path}: ollama answered without a body`);
    try {
      for await (const value of readNdjson(res.body)) {
        if (typeof value !== 'object' || value === null) {
          throw new EngineError('engine_error', `POST ${path}: unexpected NDJSON value ${JSON.stringify(value)}`);
        }
        const chunk = value as T;
        if (typeof chunk.error === 'string') throw mapOllamaError(res.status, chunk.error);
        yield chunk;
      }
    } catch (err) {
      throw transportError(err, `POST ${path}`, opts.signal);
    }
  }

  /** Closes idle connections and drops in-flight ones. */
  async close(): Promise<void> {
    await this.agent.destroy();
  }

  private async send(method: string, path: string, body: unknown, opts: CallOptions): Promise<{ res: Response; signal?: AbortSignal }> {
    const limit = opts.timeoutMs === undefined ? this.defaultTimeoutMs : opts.timeoutMs;
    const signals = [opts.signal, limit === null ? undefined : AbortSignal.timeout(limit)].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        dispatcher: this.agent,
      });
    } catch (err) {
      throw transportError(err, `${method} ${path}`, opts.signal);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw mapOllamaError(res.status, errorText(text, res.statusText || `HTTP ${res.status}`));
    }
    return { res, signal };
  }
}
