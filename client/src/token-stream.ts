/** Tokens of one job as an async iterable, with the finished job once the stream ends. */
import { jobFailure } from './job-failure.ts';
import type { Job, JobEvent } from './types.ts';

export class TokenStream implements AsyncIterable<string> {
  /** The job as it ended; settles once iteration reaches the end (or fails). */
  readonly result: Promise<Job>;
  private settle!: { resolve: (job: Job) => void; reject: (err: unknown) => void };
  private used = false;

  private readonly events: () => AsyncGenerator<JobEvent, void, undefined>;
  constructor(events: () => AsyncGenerator<JobEvent, void, undefined>) {
    this.events = events;
    this.result = new Promise<Job>((resolve, reject) => (this.settle = { resolve, reject }));
    this.result.catch(() => undefined); // a caller who only iterates must not see an unhandled rejection
  }

  /** Yields each token once, in order; throws a FabricError if the job ended without success. */
  async *[Symbol.asyncIterator](): AsyncGenerator<string, void, undefined> {
    if (this.used) throw new Error('a TokenStream can be iterated once');
    this.used = true;
    try {
      for await (const ev of this.events()) {
        if (ev.type === 'token') yield ev.text;
        else if (ev.type === 'result') {
          this.settle.resolve(ev.job);
          const failure = jobFailure(ev.job);
          if (failure) throw failure;
        }
      }
    } catch (err) {
      this.settle.reject(err);
      throw err;
    }
  }

  /** Reads the whole stream and returns the text. */
  async text(): Promise<string> {
    let out = '';
    for await (const t of this) out += t;
    return out;
  }
}
