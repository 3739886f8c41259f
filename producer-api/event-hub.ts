/**
 * One Redis subscriber connection per API process, fanned out in memory to everyone waiting
 * on a job (long-polls, SSE streams, sync waits). Channels are subscribed while someone listens.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../protocol/keys.js';

/** What a notification says: the new stream entry id and its kind (`status <s>` or `token`). */
export interface JobNotice {
  eventId: string;
  type: 'status' | 'token' | 'progress';
  status?: string;
}

type Listener = (notice: JobNotice) => void;

export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly channelToJob = new Map<string, string>();

  constructor(
    private readonly sub: Redis,
    private readonly keys: Keys,
  ) {
    sub.on('message', (channel: string, message: string) => {
      const jobId = this.channelToJob.get(channel);
      if (!jobId) return;
      const [eventId = '', type = 'status', status] = message.split(' ');
      for (const l of this.listeners.get(jobId) ?? []) l({ eventId, type: type as JobNotice['type'], status });
    });
  }

  /** Starts listening; the returned promise resolves once the subscription is live. */
  async listen(jobId: string, listener: Listener): Promise<() => void> {
    let set = this.listeners.get(jobId);
    const channel = this.keys.jobEventsChannel(jobId);
    if (!set) {
      set = new Set();
      this.listeners.set(jobId, set);
      this.channelToJob.set(channel, jobId);
      set.add(listener);
      await this.sub.subscribe(channel);
    } else set.add(listener);
    return () => {
      const s = this.listeners.get(jobId);
      if (!s) return;
      s.delete(listener);
      if (s.size === 0) {
        this.listeners.delete(jobId);
        this.channelToJob.delete(channel);
        void this.sub.unsubscribe(channel).catch(() => undefined);
      }
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.sub.disconnect();
  }
}
