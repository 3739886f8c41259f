/**
 * Ollama-compatible routes (docs/api.md of ollama/ollama). They go through the queues like
 * every job, so any Ollama client works against the fabric unchanged. Errors use Ollama's
 * `{"error": "..."}` shape; `X-Fabric-Job-Id` names the job behind each answer.
 */
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { optionsSchema, type JobOutput, type JobRecord, type SubmitBody, type Task } from '../../protocol/job.ts';
import type { ConversationEvent } from '../../protocol/conversation.ts';
import type { JobStore } from '../../store/job-store.ts';
import { isTerminal } from '../../protocol/statuses.ts';
import { baseModelOf, type FleetView } from '../fleet/fleet-view.ts';
import type { EventHub } from '../jobs/event-hub.ts';
import { HttpError, badRequest } from '../http/http-error.ts';
import type { JobService } from '../jobs/job-service.ts';
import { followConversation } from '../jobs/job-follower.ts';
import type { ApiOptions } from '../settings/options.ts';
import { parseModelName } from '../http/request-parsing.ts';
import { psEntries, showEntry, tagEntries } from './listing.ts';
import { failureOf } from './failures.ts';
import { chatMessageField, jobLogprobs, jobMessages, jobThink, jobTools, logprobFields, ollamaCall, ollamaMessage, thinkField, toolsField } from './fields.ts';
import { parseBody } from './body.ts';

const common = {
  model: z.string(),
  stream: z.boolean().optional(),
  format: z.union([z.literal('json'), z.literal(''), z.record(z.string(), z.unknown())]).optional(),
  options: optionsSchema.optional(),
  keep_alive: z.union([z.string(), z.number()]).optional(),
  think: thinkField.optional(),
  ...logprobFields,
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
const chatSchema = z.object({ ...common, messages: z.array(chatMessageField).max(10_000).optional(), tools: toolsField.optional() });
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

/**
 * How a route's chunks look: the piece of one canonical event while streaming (null: nothing
 * to send yet), and the whole answer of a finished job.
 */
interface Shape {
  piece(ev: ConversationEvent): object | null;
  whole(out: JobOutput | null): object;
  /** The final streamed chunk's own fields (its empty text). */
  empty: object;
}

/** `/api/generate`: text in `response`, reasoning in `thinking`. */
const GENERATE: Shape = {
  piece: (ev) => (ev.type === 'text' ? { response: ev.text } : ev.type === 'reasoning' ? { response: '', thinking: ev.text } : null),
  whole: (out) => ({ response: out?.response ?? out?.message?.content ?? '', ...(out?.thinking ? { thinking: out.thinking } : {}) }),
  empty: { response: '' },
};

/** `/api/chat`: a message per chunk; each tool call whole, in the chunk after its end, as Ollama sends calls. */
function chatShape(): Shape {
  const calls = new Map<number, { id: string; name: string; args: string }>();
  const msg = (fields: object) => ({ message: { role: 'assistant', content: '', ...fields } });
  return {
    piece(ev) {
      switch (ev.type) {
        case 'text':
          return msg({ content: ev.text });
        case 'reasoning':
          return msg({ thinking: ev.text });
        case 'tool_call_start':
          calls.set(ev.index, { id: ev.id, name: ev.name, args: '' });
          return null;
        case 'tool_call_delta': {
          const c = calls.get(ev.index);
          if (c) c.args += ev.arguments;
          return null;
        }
        case 'tool_call_end': {
          const c = calls.get(ev.index);
          if (!c) return null;
          return msg({ tool_calls: [ollamaCall({ id: c.id, type: 'function', function: { name: c.name, arguments: c.args } }, ev.index)] });
        }
      }
    },
    whole: (out) => ({ message: ollamaMessage(out) }),
    empty: msg({}),
  };
}

/** A finished job's logprobs, when it asked for them. */
const logprobsOf = (rec: JobRecord) => (rec.input.logprobs && rec.output?.logprobs ? { logprobs: rec.output.logprobs } : {});

/** Ollama's closing fields, from the job's timings and usage. */
function finalFields(rec: JobRecord) {
  return {
    done: true,
    // Ollama ends an answer of tool calls with `stop`.
    done_reason: rec.output?.done_reason === 'tool_calls' ? 'stop' : (rec.output?.done_reason ?? 'stop'),
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

  /** Submits, then streams NDJSON or answers once, in the route's shape. */
  async function run(req: Request, res: Response, model: string, task: Task, input: SubmitBody['input'], stream: boolean, shape: Shape) {
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
      res.json({ model, created_at: created(), ...shape.whole(rec.output), ...logprobsOf(rec), ...finalFields(rec) });
      return;
    }
    const { record } = await d.jobs.submit({ tenant: res.locals.tenant as string, body, model, task });
    res.setHeader('X-Fabric-Job-Id', record.id);
    gone.signal.addEventListener('abort', () => void d.jobs.cancel('*', record.id).catch(() => undefined), { once: true });
    // The 200 and its headers wait for the first chunk: a job that fails before one (a prompt
    // over the context, found only at the worker) answers as the HTTP error Ollama would give.
    const begin = () => {
      if (!res.headersSent) res.status(200).setHeader('Content-Type', 'application/x-ndjson');
    };
    const rec = await followConversation(d, record.id, (ev) => {
      const piece = shape.piece(ev);
      if (!piece) return;
      begin();
      res.write(`${JSON.stringify({ model, created_at: created(), ...piece, done: false })}\n`);
    }, { timeoutMs: d.opts.maxWaitMs, signal: gone.signal });
    const failure = failureOf(rec);
    if (failure && !res.headersSent) throw failure;
    begin();
    if (failure) res.write(`${JSON.stringify({ error: failure.message })}\n`);
    // The logprobs come with the finished job: the last chunk holds them all.
    else res.write(`${JSON.stringify({ model, created_at: created(), ...shape.empty, ...logprobsOf(rec!), ...finalFields(rec!) })}\n`);
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
    const input = { prompt: b.prompt, suffix: b.suffix, system: b.system, template: b.template, raw: b.raw, images: b.images, options: b.options, format: b.format || undefined, ...jobThink(b.think), ...jobLogprobs(b) };
    await run(req, res, model, 'generate', input, b.stream ?? true, GENERATE);
  });

  r.post('/api/chat', async (req, res) => {
    const b = parse(chatSchema, req.body);
    const model = parseModelName(b.model);
    if (!b.messages?.length) return loadOnly(res, model, { message: { role: 'assistant', content: '' } });
    // Ollama has no tool choice: with tools, the model chooses between text and calls.
    const tools = b.tools?.length ? { tools: jobTools(b.tools) } : {};
    const input = { messages: jobMessages(b.messages), options: b.options, format: b.format || undefined, ...tools, ...jobThink(b.think), ...jobLogprobs(b) };
    await run(req, res, model, 'chat', input, b.stream ?? true, chatShape());
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
