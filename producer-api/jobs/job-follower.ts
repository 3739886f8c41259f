/**
 * The one way the API follows a job's events: server-sent events, the Ollama and OpenAI streams
 * and the sync wait all use it. Listening on the events hub starts before anything is read, so
 * no event falls between a replay and the live part.
 *
 * With `onEvent`, each event of the job's stream after `after` is delivered once, in order:
 * replayed from Redis, then live. A notice makes the stream be read again (one read at a time;
 * notices during a read make one more), except a token whose text rode on the bus and directly
 * follows the last event delivered, which is delivered as is, with no read. The follow ends
 * after the terminal status event is delivered.
 *
 * Without `onEvent` only the end is watched and the stream is never read: a terminal status
 * notice ends the follow, and when the bus reconnects (notices may have been lost) the record is
 * looked at instead.
 */
import type { JobRecord } from '../../protocol/job.ts';
import { ConversationStream, type ConversationEvent, type ConversationStreamOptions } from '../../protocol/conversation.ts';
import type { JobEvent, JobStore } from '../../store/job-store.ts';
import { isTerminal, type JobStatus } from '../../protocol/statuses.ts';
import { streamIdTextAfter } from '../../protocol/stream-ids.ts';
import type { EventHub, JobNotice } from './event-hub.ts';

/** Why a follow ended: the job's end was seen, the wait ran out, `signal` aborted, a read failed, or `stop()`. */
export type FollowEnd = 'ended' | 'timeout' | 'aborted' | 'failed' | 'stopped';

export interface FollowOptions {
  /** Each event after `after`, replayed then live; absent: only the end is watched. */
  onEvent?: (ev: JobEvent) => void;
  /** The last stream id already seen ('-': none). */
  after?: string;
  signal?: AbortSignal;
}

export interface JobFollow {
  /** Settles once, with why the follow ended. */
  readonly end: Promise<FollowEnd>;
  /** Settles when the events the stream held at the start were delivered; rejects if that read failed. */
  readonly replayed: Promise<void>;
  /** Whether `end` has settled. */
  ended(): boolean;
  /** The stream id of the last event delivered. */
  lastEventId(): string;
  /** Ends the follow after `ms` from now unless it ended before; returns `end`. */
  until(ms: number): Promise<FollowEnd>;
  /** Stops listening; idempotent. */
  stop(): void;
}

const isTerminalStatusEvent = (ev: JobEvent) => ev.type === 'status' && isTerminal((JSON.parse(ev.data) as { status: JobStatus }).status);

/** Follows job `id`'s events (see the file's comment). */
export function followJob(d: { store: JobStore; hub: EventHub }, id: string, o: FollowOptions = {}): JobFollow {
  let lastId = o.after ?? '-';
  let settled = false;
  let settle: (why: FollowEnd) => void = () => undefined;
  const end = new Promise<FollowEnd>((resolve) => (settle = resolve));
  let timer: NodeJS.Timeout | null = null;
  let stopListening: () => void = () => undefined;
  const finish = (why: FollowEnd) => {
    if (settled) return;
    settled = true;
    if (timer) clearTimeout(timer);
    stopListening();
    settle(why);
  };

  let pumping: Promise<void> | null = null;
  let again = false;
  let isReplayed = false;
  const deliver = (ev: JobEvent) => {
    lastId = ev.id;
    o.onEvent!(ev);
    if (isTerminalStatusEvent(ev)) finish('ended');
  };
  const pump = async () => {
    do {
      again = false;
      for (const ev of await d.store.readEvents(id, lastId)) {
        if (settled) return;
        deliver(ev);
      }
    } while (again && !settled);
  };
  const read = (): Promise<void> => {
    if (pumping) {
      again = true;
      return pumping;
    }
    pumping = pump().finally(() => {
      pumping = null;
    });
    return pumping;
  };

  const onNotice = (n: JobNotice) => {
    if (settled) return;
    if (!o.onEvent) {
      if (n.type === 'status' && n.status && isTerminal(n.status as JobStatus)) finish('ended');
      // The bus reconnected: an end announced meanwhile was missed, so look at the record.
      else if (n.type === 'resync')
        void d.store.get(id).then(
          (r) => r && isTerminal(r.status) && finish('ended'),
          () => undefined,
        );
      return;
    }
    // A token that carries its text and directly follows what was delivered goes out as is: no read.
    if (n.type === 'token' && n.data !== undefined && isReplayed && !pumping && streamIdTextAfter(n.eventId, lastId)) {
      deliver({ id: n.eventId, type: 'token', data: n.data });
      return;
    }
    void read().catch(() => finish('failed'));
  };
  stopListening = d.hub.listen(id, onNotice);
  o.signal?.addEventListener('abort', () => finish('aborted'), { once: true });

  const replayed = o.onEvent
    ? read().then(
        () => void (isReplayed = true),
        (err: unknown) => {
          finish('failed');
          throw err;
        },
      )
    : Promise.resolve();
  replayed.catch(() => undefined);

  return {
    end,
    replayed,
    ended: () => settled,
    lastEventId: () => lastId,
    until(ms: number) {
      if (!settled) {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => finish('timeout'), ms);
      }
      return end;
    },
    stop: () => finish('stopped'),
  };
}

/** Follows a job's tokens to its end; the finished record, or null when the wait ran out, `signal` aborted or a read failed. */
export async function followTokens(
  d: { store: JobStore; hub: EventHub },
  id: string,
  onToken: (text: string) => void,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<JobRecord | null> {
  const follow = followJob(d, id, { onEvent: (ev) => ev.type === 'token' && onToken(ev.data), signal: opts.signal });
  const why = await follow.until(opts.timeoutMs);
  return why === 'ended' ? d.store.get(id) : null;
}

/**
 * Follows a job's canonical events (protocol/conversation.ts) to its end: text and deltas as
 * they come, then what the stream lacked against the final output. Resolves to the finished
 * record, or null when the wait ran out, `signal` aborted or a read failed.
 */
export async function followConversation(
  d: { store: JobStore; hub: EventHub },
  id: string,
  onEvent: (ev: ConversationEvent) => void,
  opts: { timeoutMs: number; signal?: AbortSignal } & ConversationStreamOptions,
): Promise<JobRecord | null> {
  const stream = new ConversationStream(opts);
  const follow = followJob(d, id, { onEvent: (ev) => stream.fromJobEvent(ev).forEach(onEvent), signal: opts.signal });
  const why = await follow.until(opts.timeoutMs);
  if (why !== 'ended') return null;
  const rec = await d.store.get(id);
  if (rec?.status === 'succeeded') stream.finish(rec.output).forEach(onEvent);
  return rec;
}
