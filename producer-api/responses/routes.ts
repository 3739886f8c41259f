/**
 * OpenAI's Responses API: `POST /v1/responses` (plain, streamed, background), `GET
 * /v1/responses/{id}` (also as a stream, resumed after `starting_after`), `POST .../cancel`,
 * `DELETE`, `GET .../input_items`. Each response is a chat job named in `x-fabric-job-id`;
 * a client that leaves a response it waits for (streamed or not) cancels its job, a background
 * one runs on.
 */
import { Router, type Request, type Response } from 'express';
import { callEvents } from '../../protocol/conversation.ts';
import { isTerminal } from '../../protocol/statuses.ts';
import { JOB_ID_HEADER, abortOnClose } from '../http/client-gone.ts';
import { followConversation } from '../jobs/job-follower.ts';
import { OpenAiError } from '../openai/errors.ts';
import { jobFailure } from '../openai/responses.ts';
import type { ApiOptions } from '../settings/options.ts';
import { ResponseEventWriter, sseEvent } from './events.ts';
import { inputItemsPage } from './input-items.ts';
import { responseObject, liveStatus, type ResponseRecord } from './render.ts';
import { parseResponsesRequest } from './requests.ts';
import { responseNotFound, type ResponsesDeps, ResponsesService } from './service.ts';

export interface ResponsesRoutesDeps extends ResponsesDeps {
  opts: Pick<ApiOptions, 'maxWaitMs' | 'defaultTimeoutMs'>;
}

export interface ResponsesApi {
  routes: Router;
  close(): void;
}

export function responsesApi(d: ResponsesRoutesDeps): ResponsesApi {
  const svc = new ResponsesService(d);
  const r = Router();
  const streamLimitMs = d.opts.defaultTimeoutMs + d.opts.maxWaitMs;

  /** The stream of a response's events after `after`, from its job's events (or, once the job is gone, from the kept result). */
  async function stream(res: Response, rec: ResponseRecord, after: number, signal: AbortSignal, justCreated = false): Promise<void> {
    res.status(200).set({ [JOB_ID_HEADER]: rec.jobId, 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    const writer = new ResponseEventWriter(rec.jobId, (ev) => res.write(sseEvent(ev)), after);
    writer.start(responseObject({ ...rec, result: null }, rec.params.background ? 'queued' : 'in_progress'));
    // A response just created has its job; a stored one may have outlived it.
    let job = justCreated ? null : await d.store.get(rec.jobId);
    if (!justCreated && !job && rec.result) {
      // The job record expired before the response: its output, as the job's final events would give it.
      for (const item of rec.result.output) {
        if (item.type === 'reasoning') writer.on({ type: 'reasoning', text: item.summary.map((s) => s.text).join('') });
        if (item.type === 'message') writer.on({ type: 'text', text: item.content.map((c) => ('text' in c ? c.text : '')).join('') });
      }
      rec.result.output.filter((i) => i.type === 'function_call').forEach((c, i) => callEvents({ id: c.call_id, type: 'function', function: { name: c.name, arguments: c.arguments } }, i).forEach((ev) => writer.on(ev)));
    } else {
      const ended = await followConversation(d, rec.jobId, (ev) => writer.on(ev), { timeoutMs: streamLimitMs, signal, forcedToolCall: rec.forced });
      if (signal.aborted) return;
      // The client who made a response waits for it: past the wait its job is canceled, as on the other routes.
      if (!ended && justCreated && !rec.params.background) await svc.cancel(rec);
      job = await d.store.get(rec.jobId);
    }
    const done = await svc.finish(rec, job);
    writer.finish(responseObject(done, liveStatus(job?.status ?? null)));
    res.end();
  }

  r.post('/v1/responses', async (req, res) => {
    const parsed = parseResponsesRequest(req.body);
    const tenant = res.locals.tenant as string;
    const gone = abortOnClose(res);
    const rec = await svc.create(tenant, parsed);
    res.setHeader(JOB_ID_HEADER, rec.jobId);
    if (rec.params.background) {
      svc.watchInBackground(rec);
      if (parsed.stream) return stream(res, rec, -1, gone, true);
      const job = await d.store.get(rec.jobId);
      res.json(responseObject(rec, liveStatus(job?.status ?? null)));
      return;
    }
    // Nobody will read the answer: free the slot, and keep the response as cancelled.
    const leave = () => void svc.cancel(rec).catch(() => undefined);
    if (gone.aborted) return leave();
    gone.addEventListener('abort', leave, { once: true });
    if (parsed.stream) return stream(res, rec, -1, gone, true);
    let job = await svc.waitForEnd(rec.jobId, d.opts.maxWaitMs, gone);
    if (gone.aborted) return;
    if (!job || !isTerminal(job.status)) {
      await svc.cancel(rec);
      job = await d.store.get(rec.jobId);
    }
    const done = await svc.finish(rec, job);
    const failure = job?.status === 'succeeded' ? null : jobFailure(job && isTerminal(job.status) ? job : null);
    if (failure) throw failure;
    res.json(responseObject(done));
  });

  async function load(req: Request, res: Response): Promise<ResponseRecord> {
    const id = String(req.params.id);
    const rec = await svc.current(res.locals.tenant as string, id);
    if (!rec) throw responseNotFound(id);
    res.setHeader(JOB_ID_HEADER, rec.jobId);
    return rec;
  }

  r.get('/v1/responses/:id', async (req, res) => {
    const rec = await load(req, res);
    if (req.query.stream === 'true') {
      const after = req.query.starting_after === undefined ? -1 : Number(req.query.starting_after);
      if (!Number.isInteger(after) || after < -1) throw OpenAiError.invalid('starting_after must be a sequence number (an integer >= 0)', 'starting_after');
      // Another client's reading: leaving it never cancels the response.
      return stream(res, rec, after, abortOnClose(res));
    }
    const job = rec.result ? null : await d.store.get(rec.jobId);
    res.json(responseObject(rec, liveStatus(job?.status ?? null)));
  });

  r.post('/v1/responses/:id/cancel', async (req, res) => {
    const rec = await load(req, res);
    if (!rec.params.background) throw OpenAiError.invalid('Only responses created with background: true can be cancelled.', null);
    res.json(responseObject(await svc.cancel(rec)));
  });

  r.delete('/v1/responses/:id', async (req, res) => {
    const rec = await load(req, res);
    await d.responses.delete(rec.jobId);
    res.json({ id: rec.id, object: 'response', deleted: true });
  });

  r.get('/v1/responses/:id/input_items', async (req, res) => {
    const rec = await load(req, res);
    res.json(inputItemsPage(rec.input, req.query));
  });

  return { routes: r, close: () => svc.close() };
}
