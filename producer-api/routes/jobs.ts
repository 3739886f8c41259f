/** `/v1/jobs` and `/v1/run`: submit, read, long-poll, cancel, retry, and the sync wrapper. */
import { Router, type Response } from 'express';
import type { RedisClient } from '../../store/redis-client.ts';
import { jobView, type JobRecord } from '../../protocol/job.ts';
import type { Keys } from '../../protocol/keys.ts';
import { isTerminal, type JobStatus } from '../../protocol/statuses.ts';
import { HttpError } from '../http/http-error.ts';
import type { JobService, SubmitResult } from '../jobs/job-service.ts';
import type { ApiOptions } from '../settings/options.ts';
import { idempotencyKey, parseSubmit, preferWaitSec, queryWaitSec } from '../http/request-parsing.ts';

export interface JobRoutesDeps {
  jobs: JobService;
  opts: ApiOptions;
  redis: RedisClient;
  keys: Keys;
}

export function jobRoutes(d: JobRoutesDeps): Router {
  const r = Router();
  const { jobs, opts } = d;
  const clampWaitMs = (sec: number | undefined, fallbackMs: number) =>
    Math.min(opts.maxWaitMs, sec === undefined ? fallbackMs : sec * 1000);

  async function render(record: JobRecord, status: JobStatus, queue?: { position: number | null; depth: number }) {
    const extra: Record<string, unknown> = {
      urls: { get: `/v1/jobs/${record.id}`, events: `/v1/jobs/${record.id}/events`, cancel: `/v1/jobs/${record.id}/cancel` },
    };
    if (status === 'queued' || status === 'loading_model') extra.queue = queue ?? (await jobs.queueInfo(record));
    if (record.webhook) {
      const log = await d.redis.lrange(d.keys.jobDeliveries(record.id), 0, -1);
      extra.webhook_deliveries = log.map((l) => JSON.parse(l) as unknown);
    }
    return jobView(record, status, extra);
  }

  /** 200 only for a finished job; otherwise 202 with where to look and when. */
  async function respond(res: Response, tenant: string, result: SubmitResult, waited: boolean) {
    const { record, created } = result;
    res.setHeader('Location', `/v1/jobs/${record.id}`);
    if (!created) res.setHeader('Idempotent-Replayed', 'true');
    if (isTerminal(record.status)) {
      res.status(200).json(await render(record, record.status));
      return;
    }
    // Not finished: read it as a poll would (expiry, loading_model), unless it was just queued.
    const fresh = created && !waited ? { record, status: record.status as JobStatus } : await jobs.get(tenant, record.id);
    res.setHeader('Retry-After', String(opts.pollRetryAfterSec));
    res.status(isTerminal(fresh.status) ? 200 : 202).json(await render(fresh.record, fresh.status, created && !waited ? result.queue : undefined));
  }

  r.post('/v1/jobs', async (req, res) => {
    const { body, model, task } = parseSubmit(req.body);
    const tenant = res.locals.tenant as string;
    const wait = preferWaitSec(req.get('prefer'));
    if (wait !== undefined) res.setHeader('Preference-Applied', `wait=${wait}`);
    const waitMs = clampWaitMs(wait, 0);
    const result = await jobs.submit({ tenant, body, model, task, idempotencyKey: idempotencyKey(req.get('idempotency-key')), waitMs });
    await respond(res, tenant, result, waitMs > 0);
  });

  r.post('/v1/run', async (req, res) => {
    const { body, model, task } = parseSubmit(req.body);
    const tenant = res.locals.tenant as string;
    const waitMs = clampWaitMs(preferWaitSec(req.get('prefer')), opts.syncWaitMs);
    const result = await jobs.submit({ tenant, body, model, task, idempotencyKey: idempotencyKey(req.get('idempotency-key')), waitMs });
    // A prompt over the context answers the same 400 whether the submit check or the worker's
    // tokenizer found it. Other failed jobs stay a 200 with the failed record, as before.
    const { record } = result;
    if (record.status === 'failed' && record.error?.code === 'context_length_exceeded') {
      res.setHeader('Location', `/v1/jobs/${record.id}`);
      throw new HttpError(400, 'context_length_exceeded', record.error.message);
    }
    await respond(res, tenant, result, waitMs > 0);
  });

  r.get('/v1/jobs/:id', async (req, res) => {
    const tenant = res.locals.tenant as string;
    const waitSec = queryWaitSec(req.query.wait);
    const id = req.params.id;
    let { record, status } = await jobs.get(tenant, id);
    if (waitSec !== undefined && !isTerminal(status)) {
      await jobs.waitForTerminal(id, clampWaitMs(waitSec, 0));
      ({ record, status } = await jobs.get(tenant, id));
    }
    if (!isTerminal(status)) res.setHeader('Retry-After', String(opts.pollRetryAfterSec));
    res.json(await render(record, status));
  });

  r.post('/v1/jobs/:id/cancel', async (req, res) => {
    const { record, status } = await jobs.cancel(res.locals.tenant as string, req.params.id);
    res.status(isTerminal(status) ? 200 : 202).json(await render(record, status));
  });

  r.post('/v1/jobs/:id/retry', async (req, res) => {
    const { record, status } = await jobs.retry(res.locals.tenant as string, req.params.id);
    res.setHeader('Location', `/v1/jobs/${record.id}`);
    res.status(202).json(await render(record, status));
  });

  return r;
}
