/**
 * `GET /v1/jobs/:id/events` as an async iterator that survives broken connections: every
 * event's id is remembered and a reconnection sends it as `Last-Event-ID`, so the API replays
 * exactly what came after it (each event once, in order) until the final `result`.
 */
import { EventSourceParserStream } from 'eventsource-parser/stream';
import type { EventSourceMessage } from 'eventsource-parser';
import { FabricError } from './fabric-error.ts';
import type { ResolvedOptions } from './options.ts';
import { abortedError, raceAbort } from './signals.ts';
import type { OpenResponse, Transport } from './transport.ts';
import type { AnswerDelta, Job, JobEvent, JobStatus } from './types.ts';

export interface EventsOptions {
  signal?: AbortSignal;
  /** Resume after this event id (from an earlier iteration). */
  lastEventId?: string;
}

/** Parses one server-sent event into a typed one; unknown event types are skipped. */
export function toJobEvent(msg: EventSourceMessage): JobEvent | null {
  const data = JSON.parse(msg.data) as Record<string, unknown>;
  const id = msg.id ?? '';
  switch (msg.event) {
    case 'status':
      return { type: 'status', id, status: data.status as JobStatus, data };
    case 'token':
      return { type: 'token', id, text: String(data.text) };
    case 'progress':
      return { type: 'progress', id, data };
    case 'delta':
      return { type: 'delta', id, delta: data as unknown as AnswerDelta };
    case 'result':
      return { type: 'result', job: data as unknown as Job };
    default:
      return null;
  }
}

/** Messages of one open stream; a silence longer than `idleMs` aborts it (treated as broken). */
async function* messages(open: OpenResponse, idleMs: number): AsyncGenerator<EventSourceMessage> {
  let idle = setTimeout(open.abort, idleMs);
  const bump = () => {
    clearTimeout(idle);
    idle = setTimeout(open.abort, idleMs);
  };
  if (!open.res.body) throw new FabricError({ status: open.res.status, code: 'invalid_response', message: 'event stream without a body', retryable: true });
  const reader = open.res.body
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream({ onComment: bump }))
    .getReader();
  try {
    for (;;) {
      // Raced with the abort, so the read ends at once whatever the body's pipes still do.
      const { done, value } = await raceAbort(reader.read(), open.signal);
      clearTimeout(idle);
      if (done) return;
      yield value; // the consumer's own time between reads does not count as silence
      bump();
    }
  } finally {
    clearTimeout(idle);
    reader.cancel().catch(() => undefined);
  }
}

export async function* jobEvents(t: Transport, o: ResolvedOptions, id: string, opts: EventsOptions = {}): AsyncGenerator<JobEvent, void, undefined> {
  const { signal } = opts;
  let lastId = opts.lastEventId ?? null;
  let breaks = 0;
  for (;;) {
    const open = await t.stream({
      method: 'GET',
      path: `/v1/jobs/${encodeURIComponent(id)}/events`,
      headers: lastId ? { 'last-event-id': lastId } : {},
      signal,
      jobId: id,
      maxRetries: o.stream.maxReconnects,
      retryCircuitOpen: true,
    });
    let lastError: unknown = null;
    try {
      for await (const msg of messages(open, o.stream.idleTimeoutMs)) {
        const ev = toJobEvent(msg);
        if (!ev) continue;
        breaks = 0;
        if (ev.type !== 'result') lastId = ev.id;
        yield ev;
        if (ev.type === 'result') return;
      }
    } catch (err) {
      if (signal?.aborted) throw abortedError(id);
      lastError = err;
    } finally {
      open.abort();
      open.release();
    }
    // The stream ended (or broke) before the result: resume after the last event seen.
    if (++breaks > o.stream.maxReconnects) {
      throw new FabricError({ status: null, code: 'connection_error', message: `event stream of ${id} broke ${breaks} times in a row`, retryable: true, jobId: id, cause: lastError });
    }
  }
}
