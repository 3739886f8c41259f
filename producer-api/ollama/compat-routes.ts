/**
 * The rest of Ollama's surface its clients touch: `GET|HEAD /` (the liveness probe clients and
 * scripts use) and the legacy `POST /api/embeddings` that the `ollama` client's `embeddings()`
 * still calls (one `prompt` in, one `embedding` out). It goes through the queues like
 * `/api/embed`.
 */
import { Router } from 'express';
import { z } from 'zod';
import { optionsSchema, type SubmitBody } from '../../protocol/job.ts';
import { isTerminal } from '../../protocol/statuses.ts';
import { badRequest } from '../http/http-error.ts';
import type { JobService } from '../jobs/job-service.ts';
import { describeZodError, parseModelName } from '../http/request-parsing.ts';
import { failureOf } from './failures.ts';

const legacyEmbedSchema = z.object({ model: z.string(), prompt: z.string().optional(), options: optionsSchema.optional(), keep_alive: z.union([z.string(), z.number()]).optional() });

export function ollamaCompatRoutes(d: { jobs: JobService; opts: { maxWaitMs: number } }): Router {
  const r = Router();
  r.get('/', (_req, res) => {
    res.type('text/plain').send('Ollama is running');
  });

  r.post('/api/embeddings', async (req, res) => {
    const parsed = legacyEmbedSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw badRequest('invalid_request', describeZodError(parsed.error));
    const model = parseModelName(parsed.data.model);
    // Ollama answers an empty prompt with an empty embedding (it only loads the model).
    if (!parsed.data.prompt) return void res.json({ embedding: [] });
    const body: SubmitBody = { model, task: 'embed', input: { input: parsed.data.prompt, options: parsed.data.options }, priority: 'normal' };
    const { record } = await d.jobs.submit({ tenant: res.locals.tenant as string, body, model, task: 'embed', waitMs: d.opts.maxWaitMs });
    res.setHeader('X-Fabric-Job-Id', record.id);
    const failure = failureOf(isTerminal(record.status) ? record : null);
    if (failure) throw failure;
    res.json({ embedding: record.output?.embeddings?.[0] ?? [] });
  });
  return r;
}
