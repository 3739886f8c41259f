/**
 * One Redis subscription per API process, on the events bus every job event is announced on,
 * fanned out in memory to whoever waits on a job (long-polls, SSE streams, sync waits).
 * Listening costs no round trip, so a waiter can be in place before its job is even queued.
 */
import type { RedisClient } from '../../store/redis-client.ts';
import type { Keys } from '../../protocol/keys.ts';

/** What a notification says: the new stream entry id and its kind. */
export interface JobNotice {
  eventId: string;
  type: 'status' | 'token' | 'progress' | 'delta' | 'resync';
  status?: string;
  /** A token's text, when the bus message carried it (short tokens do). */
  data?: string;
}

type Listener = (notice: JobNotice) => void;

export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private ready: Promise<unknown> | null = null;

  private readonly sub: RedisClient;
  private readonly keys: Keys;
  constructor(
    sub: RedisClient,
    keys: Keys,
  ) {
    this.sub = sub;
    this.keys = keys;
    sub.on('message', (_channel: string, message: string) => {
      const a = message.indexOf(' ');
      const set = this.listeners.get(message.slice(0, a));
      if (!set) return;
      const b = message.indexOf(' ', a + 1);
      const c = message.indexOf(' ', b + 1);
      const eventId = message.slice(a + 1, b);
      const type = (c < 0 ? message.slice(b + 1) : message.slice(b + 1, c)) as JobNotice['type'];
      const rest = c < 0 ? undefined : message.slice(c + 1);
      const notice: JobNotice = type === 'token' ? { eventId, type, data: rest } : { eventId, type, status: rest };
      for (const l of set) l(notice);
    });
    // Messages published while the subscription was down are lost: everyone re-reads their stream.
    let connected = false;
    sub.on('ready', () => {
      if (connected) for (const set of this.listeners.values()) for (const l of set) l({ eventId: '', type: 'resync' });
      connected = true;
    });
  }

  /** Subscribes to the bus; call (and await) once before serving. */
  start(): Promise<unknown> {
    this.ready ??= this.sub.subscribe(this.keys.eventsBus());
    return this.ready;
  }

  /** Starts listening to one job's events; returns the function that stops it. */
  listen(jobId: string, listener: Listener): () => void {
    let set = this.listeners.get(jobId);
    if (!set) {
      set = new Set();
      this.listeners.set(jobId, set);
    }
    set.add(listener);
    return () => {
      const s = this.listeners.get(jobId);
      if (!s) return;
      s.delete(listener);
      if (s.size === 0) this.listeners.delete(jobId);
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.sub.disconnect();
  }
}
