/** The one writer (workers) and reader (API) of a pull's report stream (protocol/pull.ts). */
import type { RedisClient } from './redis-client.ts';
import type { Keys } from '../protocol/keys.ts';
import { PULL_REPORT_TTL_SEC, parsePullReport, type PullReport } from '../protocol/pull.ts';

/** Appends a report; the stream expires an hour after its last write. */
export async function appendPullReport(redis: RedisClient, keys: Keys, requestId: string, report: PullReport): Promise<void> {
  const key = keys.pullProgress(requestId);
  await redis.multi().xadd(key, 'MAXLEN', '~', 10_000, '*', 'report', JSON.stringify(report)).expire(key, PULL_REPORT_TTL_SEC).exec();
}

/** Reports after stream id `after` ('0' for all), with the id to read on from. */
export async function readPullReports(redis: RedisClient, keys: Keys, requestId: string, after: string): Promise<{ reports: PullReport[]; last: string }> {
  const rows = (await redis.xrange(keys.pullProgress(requestId), after === '0' ? '-' : `(${after}`, '+', 'COUNT', 500)) as [string, string[]][];
  const reports: PullReport[] = [];
  let last = after;
  for (const [id, fields] of rows) {
    last = id;
    const r = parsePullReport(fields);
    if (r) reports.push(r);
  }
  return { reports, last };
}
