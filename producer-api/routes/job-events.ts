/**
 * `GET /v1/jobs/:id/events`: server-sent events replayed from the job's Redis stream, then
 * live. Each event's id is its stream id, so a client resumes with `Last-Event-ID`.
 * Events: `status` ({status,...}), `token` ({text}), `progress`, and a final `result` (the job).
 */
import { Router } from 'express';
import { jobView } from '../../protocol/job.js';
import type { JobEvent, JobStore } from '../../store/job-store.js';
import { isTerminal, type JobStatus } from '../../protocol/statuses.js';
import type { EventHub } from '../jobs/event-hub.js';
import type { JobService } from '../jobs/job-service.js';
import { badRequest } from '../http/http-error.js';
import { parseStreamId, streamIdAfter, streamIdTextAfter } from '../../protocol/stream-ids.js';

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
    let closed = false;
    let pumping = false;
    let again = false;

    const finish = async () => {
      if (closed) return;
      const { record, status } = await d.jobs.get(tenant, id);
      res.write(`event: result\ndata: ${JSON.stringify(jobView(record, status))}\n\n`);
      cleanup();
      res.end();
    };
    const write = (ev: JobEvent): boolean => {
      const data = ev.type === 'token' ? JSON.stringify({ text: ev.data }) : ev.data;
      res.write(`id: ${ev.id}\nevent: ${ev.type}\ndata: ${data}\n\n`);
      lastId = ev.id;
      return ev.type === 'status' && isTerminal((JSON.parse(ev.data) as { status: JobStatus }).status);
    };
    const pump = async (): Promise<void> => {
      if (pumping) {
        again = true;
        return;
      }
      pumping = true;
      try {
        do {
          again = false;
          for (const ev of await d.store.readEvents(id, lastId)) {
            if (closed) return;
            if (write(ev)) return void (await finish());
          }
        } while (again && !closed);
      } finally {
        pumping = false;
      }
    };

    let replayed = false;
    const stop = d.hub.listen(id, (n) => {
      // A token that carries its text and directly follows what was sent goes out as is: no read.
      if (n.type === 'token' && n.data !== undefined && replayed && !pumping && !closed && streamIdTextAfter(n.eventId, lastId)) {
        write({ id: n.eventId, type: 'token', data: n.data });
        return;
      }
      void pump().catch(() => cleanup());
    });
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), d.keepAliveMs ?? 15_000);
    function cleanup() {
      if (closed) return;
      closed = true;
      clearInterval(keepAlive);
      stop();
    }
    req.on('close', cleanup);
    await pump();
    replayed = true;
    // Resuming after the terminal event: nothing new to replay, so close with the result.
    if (!closed) {
      const rec = await d.store.get(id);
      if (rec && isTerminal(rec.status) && (await d.store.readEvents(id, lastId)).length === 0) await finish();
    }
  });
  return r;
}
