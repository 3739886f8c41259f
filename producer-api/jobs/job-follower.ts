/** Follows a job's events to its end, handing each token to a callback (Ollama streaming). */
import type { JobRecord } from '../../protocol/job.js';
import type { JobStore } from '../../store/job-store.js';
import { isTerminal, type JobStatus } from '../../protocol/statuses.js';
import { streamIdTextAfter } from '../../protocol/stream-ids.js';
import type { EventHub } from './event-hub.js';

export async function followJob(
  d: { store: JobStore; hub: EventHub },
  id: string,
  onToken: (text: string) => void,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<JobRecord | null> {
  let lastId = '-';
  let done = false;
  let wake: () => void = () => undefined;
  let pumping: Promise<void> | null = null;
  let again = false;
  const finished = new Promise<void>((r) => (wake = r));
  const pump = async () => {
    do {
      again = false;
      for (const ev of await d.store.readEvents(id, lastId)) {
        lastId = ev.id;
        if (ev.type === 'token') onToken(ev.data);
        else if (ev.type === 'status' && isTerminal((JSON.parse(ev.data) as { status: JobStatus }).status)) {
          done = true;
          wake();
          return;
        }
      }
    } while (again && !done);
  };
  const trigger = () => {
    if (pumping) {
      again = true;
      return;
    }
    pumping = pump()
      .catch(() => wake())
      .finally(() => {
        pumping = null;
      });
  };
  let replayed = false;
  const stop = d.hub.listen(id, (n) => {
    // A token that carries its text and directly follows what was read is taken as is: no read.
    if (n.type === 'token' && n.data !== undefined && replayed && !pumping && !done && streamIdTextAfter(n.eventId, lastId)) {
      lastId = n.eventId;
      onToken(n.data);
      return;
    }
    trigger();
  });
  const timer = setTimeout(wake, opts.timeoutMs);
  opts.signal?.addEventListener('abort', () => wake(), { once: true });
  try {
    trigger();
    await pumping;
    replayed = true;
    await finished;
    while (pumping) await pumping;
    return done ? await d.store.get(id) : null;
  } finally {
    clearTimeout(timer);
    stop();
  }
}
