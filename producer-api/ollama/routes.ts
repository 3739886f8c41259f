/**
 * Ollama-compatible routes (docs/api.md of ollama/ollama). They go through the queues like
 * every job, so any Ollama client works against the fabric unchanged. Errors use Ollama's
 * `{"error": "..."}` shape; `X-Fabric-Job-Id` names the job behind each answer.
 */
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { chatMessageSchema, optionsSchema, type JobRecord, type SubmitBody, type Task } from '../../protocol/job.ts';
import type { JobStore } from '../../store/job-store.ts';
import { isTerminal } from '../../protocol/statuses.ts';
import { baseModelOf, type FleetView } from '../fleet/fleet-view.ts';
import type { EventHub } from '../jobs/event-hub.ts';
import { HttpError, badRequest } from '../http/http-error.ts';
import type { JobService } from '../jobs/job-service.ts';
import { followTokens } from '../jobs/job-follower.ts';
import type { ApiOptions } from '../settings/options.ts';
import { parseModelName } from '../http/request-parsing.ts';
import { psEntries, showEntry, tagEntries } from './listing.ts';
import { failureOf } from './failures.ts';
import { parseBody } from './body.ts';

const common = {
  model: z.string(),
  stream: z.boolean().optional(),
  format: z.union([z.literal('json'), z.literal(''), z.record(z.string(), z.unknown())]).optional(),
  options: optionsSchema.optional(),
  keep_alive: z.union([z.string(), z.number()]).optional(),
};
// Ollama ignores fields it does not know; so do these schemas.
const generateSchema = z.object({
  ...common,
  prompt: z.string().optional(),
  suffix: z.string().optional(),
  system: z.string().optional(),
  template: z.string().optional(),
  raw: z.boolean().optional(),
  images: z.array(z.string()).optional(),
  context: z.array(z.number()).optional(),
});
const chatSchema = z.object({ ...common, messages: z.array(chatMessageSchema.passthrough()).optional() });
const embedSchema = z.object({ model: z.string(), input: z.union([z.string(), z.array(z.string())]), truncate: z.boolean().optional(), options: optionsSchema.optional(), keep_alive: z.union([z.string(), z.number()]).optional() });

export interface OllamaRoutesDeps {
  jobs: JobService;
  store: JobStore;
  hub: EventHub;
  fleet: FleetView;
  opts: ApiOptions;
}

const ns = (ms: number | null | undefined) => Math.round((ms ?? 0) * 1e6);

const parse = parseBody;

/** Ollama's closing fields, from the job's timings and usage. */
function finalFields(rec: JobRecord) {
  return {
    done: true,
    done_reason: rec.output?.done_reason ?? 'stop',
    total_duration: ns((rec.finishedAt ?? Date.now()) - rec.createdAt),
    load_duration: ns(rec.loadWaitMs),
    prompt_eval_count: rec.usage?.prompt_tokens ?? 0,
    prompt_eval_duration: ns(rec.promptEvalMs),
    eval_count: rec.usage?.completion_tokens ?? 0,
    eval_duration: ns(rec.evalMs),
  };
}

export function ollamaRoutes(d: OllamaRoutesDeps): Router {
  const r = Router();
  const created = () => new Date().toISOString();

  /** Submits, then streams NDJSON or answers once, shaping chunks with `piece`. */
  async function run(req: Request, res: Response, model: string, task: Task, input: SubmitBody['input'], stream: boolean, piece: (text: string) => object) {
    const body: SubmitBody = { model, task, input, priority: 'normal' };
    // A caller that goes away cancels its job, as Ollama cancels the request.
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    if (!stream) {
      const { record: rec } = await d.jobs.submit({ tenant: res.locals.tenant as string, body, model, task, waitMs: d.opts.maxWaitMs, signal: gone.signal });
      if (gone.signal.aborted) {
        await d.jobs.cancel('*', rec.id).catch(() => undefined);
        return;
      }
      res.setHeader('X-Fabric-Job-Id', rec.id);
      const failure = failureOf(isTerminal(rec.status) ? rec : null);
      if (failure) throw failure;
      const text = rec.output?.response ?? rec.output?.message?.content ?? '';
      res.json({ model, created_at: created(), ...piece(text), ...finalFields(rec) });
      return;
    }
    const { record } = await d.jobs.submit({ tenant: res.locals.tenant as string, body, model, task });
    res.setHeader('X-Fabric-Job-Id', record.id);
    gone.signal.addEventListener('abort', () => void d.jobs.cancel('*', record.id).catch(() => undefined), { once: true });
    // The 200 and its headers wait for the first token: a job that fails before one (a prompt
    // over the context, found only at the worker) answers as the HTTP error Ollama would give.
    const begin = () => {
      if (!res.headersSent) res.status(200).setHeader('Content-Type', 'application/x-ndjson');
    };
    const rec = await followTokens(d, record.id, (t) => {
      begin();
      res.write(`${JSON.stringify({ model, created_at: created(), ...piece(t), done: false })}\n`);
    }, { timeoutMs: d.opts.maxWaitMs, signal: gone.signal });
    const failure = failureOf(rec);
    if (failure && !res.headersSent) throw failure;
    begin();
    if (failure) res.write(`${JSON.stringify({ error: failure.message })}\n`);
    else res.write(`${JSON.stringify({ model, created_at: created(), ...piece(''), ...finalFields(rec!) })}\n`);
    res.end();
  }

  /** An empty prompt only asks Ollama to load the model; the fabric's workers own residency. */
  async function loadOnly(res: Response, model: string, piece: object) {
    const snap = await d.fleet.snapshot();
    if (!snap.catalog.has(baseModelOf(snap, model))) throw new HttpError(404, 'model_not_found', `model '${model}' not found`);
    res.json({ model, created_at: created(), ...piece, done: true, done_reason: 'load' });
  }

  r.post('/api/generate', async (req, res) => {
    const b = parse(generateSchema, req.body);
    const model = parseModelName(b.model);
    if (!b.prompt && !b.images?.length) return loadOnly(res, model, { response: '' });
    const input = { prompt: b.prompt, suffix: b.suffix, system: b.system, template: b.template, raw: b.raw, images: b.images, options: b.options, format: b.format || undefined };
    await run(req, res, model, 'generate', input, b.stream ?? true, (t) => ({ response: t }));
  });

  r.post('/api/chat', async (req, res) => {
    const b = parse(chatSchema, req.body);
    // Tool calling is not run by the fabric's engines: say so rather than answer without tools.
    if (Array.isArray((req.body as { tools?: unknown }).tools) && (req.body as { tools: unknown[] }).tools.length > 0) throw badRequest('tools_unsupported', 'tools are not supported by the fabric');
    const model = parseModelName(b.model);
    if (!b.messages?.length) return loadOnly(res, model, { message: { role: 'assistant', content: '' } });
    const messages = b.messages.map((m) => ({ role: m.role, content: m.content, ...(m.images ? { images: m.images } : {}) }));
    await run(req, res, model, 'chat', { messages, options: b.options, format: b.format || undefined }, b.stream ?? true, (t) => ({ message: { role: 'assistant', content: t } }));
  });

  r.post('/api/embed', async (req, res) => {
    const b = parse(embedSchema, req.body);
    const model = parseModelName(b.model);
    const body: SubmitBody = { model, task: 'embed', input: { input: b.input, options: b.options }, priority: 'normal' };
    const { record: rec } = await d.jobs.submit({ tenant: res.locals.tenant as string, body, model, task: 'embed', waitMs: d.opts.maxWaitMs });
    res.setHeader('X-Fabric-Job-Id', rec.id);
    const failure = failureOf(isTerminal(rec.status) ? rec : null);
    if (failure) throw failure;
    const f = finalFields(rec);
    res.json({ model, embeddings: rec.output?.embeddings ?? [], total_duration: f.total_duration, load_duration: f.load_duration, prompt_eval_count: f.prompt_eval_count });
  });

  r.get('/api/tags', async (_req, res) => {
    res.json({ models: tagEntries(await d.fleet.snapshot(0)) });
  });

  r.get('/api/ps', async (_req, res) => {
    res.json({ models: psEntries(await d.fleet.snapshot(0)) });
  });

  // `ollama run` asks /api/show before it chats; answer from the catalog.
  r.post('/api/show', async (req, res) => {
    const b = parse(z.object({ model: z.string().optional(), name: z.string().optional() }), req.body);
    const model = parseModelName(b.model ?? b.name);
    const snap = await d.fleet.snapshot();
    const entry = snap.catalog.get(baseModelOf(snap, model));
    if (!entry) throw new HttpError(404, 'model_not_found', `model '${model}' not found`);
    res.json(showEntry(entry, entry.name === model ? undefined : snap.aliases?.get(model)));
  });

  r.get('/api/version', (_req, res) => {
    res.json({ version: d.opts.version });
  });

  return r;
}
