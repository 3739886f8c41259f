/** What the wire adapters share about an answer: its job id header, and noticing the client leave. */
import type { Response } from 'express';

/** Every answer that ran a job names it, whatever the wire format. */
export const JOB_ID_HEADER = 'x-fabric-job-id';

/** Aborts when the client goes away before the answer is complete. */
export function abortOnClose(res: Response): AbortSignal {
  const gone = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) gone.abort();
  });
  return gone.signal;
}
