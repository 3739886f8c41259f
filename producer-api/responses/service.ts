/**
 * What the Responses routes do with jobs and stored responses: a response is a chat job; when
 * stored, its record lives in Redis (store/response-store.ts) with the request, the input items
 * and, once the job ended, the result, so any API process answers for it after the job record
 * itself has expired. The result is kept by whoever sees the job end first: the request that
 * waits for it, the process that accepted a background response, or any later read.
 */
import type { JobRecord } from '../../protocol/job.ts';
import type { Logger } from '../../protocol/logger.ts';
import { isTerminal } from '../../protocol/statuses.ts';
import type { JobStore } from '../../store/job-store.ts';
import type { ResponseStore } from '../../store/response-store.ts';
import type { EventHub } from '../jobs/event-hub.ts';
import { followJob, type JobFollow } from '../jobs/job-follower.ts';
import type { JobService } from '../jobs/job-service.ts';
import { FeatureRefusedHttpError, HttpError, SchemaRefusedHttpError, ToolsRefusedHttpError } from '../http/http-error.ts';
import { OpenAiError } from '../openai/errors.ts';
import type { ConversationItem } from './items.ts';
import { jobInput, type ResponsesRequest } from './requests.ts';
import { jobIdOf, resultOf, responseIdOf, type ResponseRecord } from './render.ts';

export interface ResponsesDeps {
  jobs: JobService;
  store: JobStore;
  hub: EventHub;
  responses: ResponseStore<ResponseRecord>;
  log: Logger;
}

/** The Responses parameter a submit-time refusal names. */
const FEATURE_PARAM: Record<string, string> = { think: 'reasoning.effort', images: 'input', logprobs: 'top_logprobs', top_logprobs: 'top_logprobs' };

/** How long a background response's end is watched by the process that accepted it (later reads finish it too). */
const BACKGROUND_WATCH_MS = 24 * 3600_000;

export const responseNotFound = (id: string) => new OpenAiError(404, 'response_not_found', `Response with id '${id}' not found.`, null, false);

export class ResponsesService {
  private readonly d: ResponsesDeps;
  private readonly watches = new Set<JobFollow>();

  constructor(d: ResponsesDeps) {
    this.d = d;
  }

  /** The conversation a follow-up continues: the previous response's history, input and output. */
  private async history(tenant: string, previousId: string | null): Promise<ConversationItem[]> {
    if (previousId === null) return [];
    const prev = await this.current(tenant, previousId);
    if (!prev) throw new OpenAiError(404, 'response_not_found', `Previous response with id '${previousId}' not found.`, 'previous_response_id', false);
    if (!prev.result) throw OpenAiError.invalid(`Previous response with id '${previousId}' is still ${prev.params.background ? 'running' : 'in progress'}; wait for it to end`, 'previous_response_id');
    return [...prev.history, ...prev.input, ...prev.result.output];
  }

  /** Submits the request's job and, when stored, keeps its record; throws the refusal in OpenAI's shape. */
  async create(tenant: string, req: ResponsesRequest): Promise<ResponseRecord> {
    const history = await this.history(tenant, req.params.previous_response_id);
    const input = jobInput(req, history);
    let job: JobRecord;
    try {
      ({ record: job } = await this.d.jobs.submit({ tenant, body: { model: req.model, task: 'chat', input, priority: 'normal' }, model: req.model, task: 'chat' }));
    } catch (err) {
      if (err instanceof ToolsRefusedHttpError) throw OpenAiError.invalid(err.message, err.param);
      if (err instanceof FeatureRefusedHttpError) throw OpenAiError.invalid(err.message, FEATURE_PARAM[err.param] ?? err.param);
      if (err instanceof SchemaRefusedHttpError) throw OpenAiError.invalid(err.message, 'text.format');
      if (err instanceof HttpError && !(err instanceof OpenAiError) && err.code === 'context_length_exceeded') throw new OpenAiError(err.status, err.code, err.message, 'input', false);
      if (err instanceof HttpError && !(err instanceof OpenAiError) && err.code === 'model_not_found') throw new OpenAiError(err.status, err.code, err.message, 'model', false);
      throw err;
    }
    const r: ResponseRecord = { id: responseIdOf(job.id), jobId: job.id, tenant, model: job.model, createdAt: job.createdAt, params: req.params, forced: req.forced, input: req.input, history, result: null };
    if (r.params.store) await this.d.responses.create(r.jobId, r);
    return r;
  }

  /** Keeps the result of a response whose job ended (read now when not given); the record as it stands. */
  async finish(r: ResponseRecord, job?: JobRecord | null): Promise<ResponseRecord> {
    if (r.result) return r;
    const rec = job === undefined ? await this.d.store.get(r.jobId) : job;
    if (rec && !isTerminal(rec.status)) return r;
    const done: ResponseRecord = { ...r, result: resultOf(r, rec) };
    if (r.params.store) await this.d.responses.update(r.jobId, done);
    return done;
  }

  /** A stored response of `tenant` (null: none), its result kept first if its job has ended. */
  async current(tenant: string, id: string): Promise<ResponseRecord | null> {
    const jobId = jobIdOf(id);
    if (!jobId) return null;
    const r = await this.d.responses.get(tenant, jobId);
    return r ? this.finish(r) : null;
  }

  /** The job's record once it ended, or as it stands when `ms` ran out or `signal` aborted. */
  async waitForEnd(jobId: string, ms: number, signal?: AbortSignal): Promise<JobRecord | null> {
    const follow = followJob(this.d, jobId, { signal });
    try {
      const now = await this.d.store.get(jobId);
      if (!now || isTerminal(now.status)) return now;
      await follow.until(ms);
      return await this.d.store.get(jobId);
    } finally {
      follow.stop();
    }
  }

  /** Cancels the response's job (when it has not ended) and keeps the result. */
  async cancel(r: ResponseRecord): Promise<ResponseRecord> {
    await this.d.jobs.cancel('*', r.jobId).catch(() => undefined);
    return this.finish(r);
  }

  /** Watches a background response's job from this process and keeps its result when it ends. */
  watchInBackground(r: ResponseRecord): void {
    const follow = followJob(this.d, r.jobId);
    this.watches.add(follow);
    void follow
      .until(BACKGROUND_WATCH_MS)
      .then(async (why) => {
        this.watches.delete(follow);
        if (why === 'ended') await this.finish(r);
      })
      .catch((err: unknown) => this.d.log.warn({ err, id: r.id }, 'Keeping a background response result failed; a later read keeps it'));
  }

  /** Stops the background watches (their results are kept by later reads). */
  close(): void {
    for (const w of this.watches) w.stop();
    this.watches.clear();
  }
}
