/**
 * `GET /v1/jobs/:id/events`: server-sent events replayed from the job's Redis stream, then
 * live (jobs/job-follower.ts). Each event's id is its stream id, so a client resumes with `Last-Event-ID`.
 * Events: `status` ({status,...}), `token` ({text}), `progress`, and a final `result` (the job).
 */
import { Router } from 'express';
import { jobView } from '../../protocol/job.ts';
import type { JobEvent, JobStore } from '../../store/job-store.ts';
import { isTerminal } from '../../protocol/statuses.ts';
import type { EventHub } from '../jobs/event-hub.ts';
import { followJob } from '../jobs/job-follower.ts';
import type { JobService } from '../jobs/job-service.ts';
import { badRequest } from '../http/http-error.ts';
import { parseStreamId, streamIdAfter } from '../../protocol/stream-ids.ts';

export function jobEventRoutes(d: { jobs: JobService; store: JobStore; hub: EventHub; keepAliveMs?: number }): Router {
  const r = Router();
  r.get('/v1/jobs/:id/events', async (req, res) => {
    const tenant = res.locals.tenant as string;
    const id = req.params.id;
    await d.jobs.get(tenant, id); // 404 before the stream opens
    const resume = req.get('last-event-id') ?? (typeof req.query.last_event_id === 'string' ? req.query.last_event_id : '');
    let lastId = '-';
    if (resume !== '') {
      const parsed = parseStreamId(resume);
      if (!parsed) throw badRequest('invalid_last_event_id', 'Last-Event-ID must be an event id this stream sent (<ms>-<seq>)');
      // An id beyond the stream's end is not one this stream sent (a stream of an earlier run, say): replay it all.
      const newest = await d.store.lastEventId(id);
      const newestParsed = newest ? parseStreamId(newest) : null;
      lastId = newestParsed && !streamIdAfter(parsed, newestParsed) ? resume : '-';
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    const write = (ev: JobEvent) => {
      const data = ev.type === 'token' ? JSON.stringify({ text: ev.data }) : ev.data;
      res.write(`id: ${ev.id}\nevent: ${ev.type}\ndata: ${data}\n\n`);
    };
    const follow = followJob(d, id, { after: lastId, onEvent: write });
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), d.keepAliveMs ?? 15_000);
    let closed = false;
    const cleanup = () => {
      if (closed) return;
      closed = true;
      clearInterval(keepAlive);
      follow.stop();
    };
    const finish = async () => {
      if (closed) return;
      const { record, status } = await d.jobs.get(tenant, id);
      res.write(`event: result\ndata: ${JSON.stringify(jobView(record, status))}\n\n`);
      cleanup();
      res.end();
    };
    req.on('close', cleanup);
    void follow.end.then((why) => (why === 'ended' ? finish() : cleanup())).catch(() => cleanup());
    await follow.replayed;
    // Resuming after the terminal event: nothing new to replay, so close with the result.
    if (!closed && !follow.ended()) {
      const rec = await d.store.get(id);
      if (rec && isTerminal(rec.status) && (await d.store.readEvents(id, follow.lastEventId())).length === 0) await finish();
    }
  });
  return r;
}
