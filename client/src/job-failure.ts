/** Turns a job that ended without success into the FabricError the convenience calls throw. */
import { FabricError } from './fabric-error.ts';
import type { Job } from './types.ts';

export function jobFailure(job: Job): FabricError | null {
  if (job.status === 'succeeded') return null;
  const code = job.error?.code ?? (job.status === 'canceled' || job.status === 'expired' || job.status === 'timed_out' ? job.status : 'failed');
  return new FabricError({
    status: null,
    code,
    message: job.error?.message ?? `job ${job.id} ended ${job.status}`,
    retryable: job.error?.retryable ?? false,
    jobId: job.id,
  });
}
