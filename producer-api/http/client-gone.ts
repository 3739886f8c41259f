/** What the wire adapters share about an answer: its job id header, and noticing the client leave. */
import type { Response } from 'express';
import type { JobRecord } from '../../protocol/job.ts';
import { isTerminal } from '../../protocol/statuses.ts';

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

/**
 * The end of a synchronous answer's wait: names the job in the job id header and cancels a job
 * nobody will read (the client left, or the wait ran out). Gives the finished record, null when
 * the wait ran out, or undefined when the client left (there is nobody to answer).
 */
export async function settleSyncWait(res: Response, signal: AbortSignal, record: JobRecord, cancel: (id: string) => Promise<void>): Promise<JobRecord | null | undefined> {
  res.setHeader(JOB_ID_HEADER, record.id);
  if (signal.aborted || !isTerminal(record.status)) {
    await cancel(record.id);
    if (signal.aborted) return undefined;
  }
  return isTerminal(record.status) ? record : null;
}
