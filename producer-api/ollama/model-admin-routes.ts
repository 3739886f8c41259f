/**
 * Ollama's model management for the fleet (docs/api.md of ollama/ollama): `POST /api/copy`
 * (an alias), `POST /api/create` (a model derived with `from`), `DELETE /api/delete` and
 * `POST /api/pull` (producer-api/ollama/pull-route.ts). They change the fleet, so they need the
 * admin key; errors are Ollama's `{"error": "..."}`.
 */
import { randomUUID } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { optionsSchema } from '../../protocol/job.ts';
import type { Keys } from '../../protocol/keys.ts';
import { derive } from '../../protocol/model-aliases.ts';
import { sendControl } from '../../store/control-stream.ts';
import { execOrThrow } from '../../store/fleet-reader.ts';
import { deleteAliases, setAlias } from '../../store/model-aliases.ts';
import type { RedisClient } from '../../store/redis-client.ts';
import type { FleetSnapshot, FleetView } from '../fleet/fleet-view.ts';
import { badRequest, conflict, notFound } from '../http/http-error.ts';
import { describeZodError, parseModelName } from '../http/request-parsing.ts';
import type { JobService } from '../jobs/job-service.ts';
import { parseBody } from './body.ts';
import { pullRoute } from './pull-route.ts';

export interface ModelAdminRoutesDeps {
  jobs: JobService;
  fleet: FleetView;
  redis: RedisClient;
  keys: Keys;
  admin: RequestHandler;
}

/** Engines that take an Ollama template for generate jobs. */
const TEMPLATE_ENGINES = new Set(['ollama']);

const copySchema = z.object({ source: z.string(), destination: z.string() });
const createSchema = z.object({
  model: z.string().optional(),
  name: z.string().optional(),
  from: z.string().optional(),
  system: z.string().optional(),
  template: z.string().optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  adapters: z.record(z.string(), z.string()).optional(),
  files: z.record(z.string(), z.string()).optional(),
  quantize: z.string().optional(),
  messages: z.array(z.unknown()).optional(),
  stream: z.boolean().optional(),
});
const deleteSchema = z.object({ model: z.string().optional(), name: z.string().optional() });

/** Whether a name is served: a catalog model or an alias. */
const known = (snap: FleetSnapshot, name: string) => snap.catalog.has(name) || (snap.aliases?.has(name) ?? false);

export function modelAdminRoutes(d: ModelAdminRoutesDeps): Router {
  const r = Router();

  r.post('/api/copy', d.admin, async (req, res) => {
    const b = parseBody(copySchema, req.body);
    const source = parseModelName(b.source);
    const destination = parseModelName(b.destination);
    const snap = await d.fleet.snapshot(0);
    if (!known(snap, source)) throw notFound('model_not_found', `model '${source}' not found`);
    if (source === destination) throw badRequest('invalid_request', 'source and destination are the same model');
    if (snap.catalog.has(destination)) throw conflict('model_exists', `'${destination}' is a model with its own weights; delete it first`);
    await setAlias(d.redis, d.keys, destination, derive(source, snap.aliases ?? new Map(), {}, new Date()));
    d.fleet.invalidate();
    res.status(200).end();
  });

  r.post('/api/create', d.admin, async (req, res) => {
    const b = parseBody(createSchema, req.body);
    const name = parseModelName(b.model ?? b.name);
    if (b.files && Object.keys(b.files).length > 0) throw badRequest('invalid_request', 'creating a model from files is not supported: name a model of the fleet in `from` (pull it first)');
    if (b.quantize) throw badRequest('invalid_request', 'quantize is not supported: pull the quantization wanted instead');
    if (b.messages?.length) throw badRequest('invalid_request', 'messages are not supported in a derived model');
    if (!b.from) throw badRequest('invalid_request', 'create needs `from`: a model of the fleet the new one derives from');
    const from = parseModelName(b.from);
    const snap = await d.fleet.snapshot(0);
    if (!known(snap, from)) throw notFound('model_not_found', `model '${from}' not found`);
    const base = snap.aliases?.get(from)?.from ?? from;
    const engine = snap.catalog.get(base)?.engine ?? 'unknown';
    if (b.adapters && Object.keys(b.adapters).length > 0) throw badRequest('invalid_request', `adapters are not supported by the ${engine} engine`);
    if (b.template !== undefined && !TEMPLATE_ENGINES.has(engine)) throw badRequest('invalid_request', `template is not supported by the ${engine} engine: it renders prompts with the model's own chat template`);
    const parameters = b.parameters === undefined ? undefined : optionsSchema.safeParse(b.parameters);
    if (parameters && !parameters.success) throw badRequest('invalid_request', `parameters: ${describeZodError(parameters.error)}`);
    if (snap.catalog.has(name)) throw conflict('model_exists', `'${name}' is a model with its own weights; delete it first`);
    if (name === from) throw badRequest('invalid_request', 'a model cannot derive from itself');
    const extra = { ...(b.system !== undefined ? { system: b.system } : {}), ...(b.template !== undefined ? { template: b.template } : {}), ...(parameters?.data ? { parameters: parameters.data } : {}) };
    await setAlias(d.redis, d.keys, name, derive(from, snap.aliases ?? new Map(), extra, new Date()));
    d.fleet.invalidate();
    const lines = [{ status: `using weights of ${base}` }, { status: 'writing manifest' }, { status: 'success' }];
    if (b.stream === false) return void res.json(lines.at(-1));
    res.status(200).setHeader('Content-Type', 'application/x-ndjson');
    res.end(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  });

  r.delete('/api/delete', d.admin, async (req, res) => {
    const b = parseBody(deleteSchema, req.body);
    const name = parseModelName(b.model ?? b.name);
    const snap = await d.fleet.snapshot(0);
    if (snap.aliases?.has(name)) {
      await deleteAliases(d.redis, d.keys, [name]);
      d.fleet.invalidate();
      return void res.status(200).end();
    }
    const entry = snap.catalog.get(name);
    if (!entry) throw notFound('model_not_found', `model '${name}' not found`);
    const dependents = [...(snap.aliases ?? new Map())].filter(([, a]) => a.from === name).map(([n]) => n);
    if (dependents.length) throw conflict('model_in_use', `'${name}' is the base of ${dependents.join(', ')}; delete them first`);
    // Out of the catalog first: new jobs for it are refused from here on.
    await d.redis.hdel(d.keys.catalog(), name);
    d.fleet.invalidate();
    const error = { code: 'model_deleted' as const, message: `model ${name} was deleted`, retryable: false };
    await d.jobs.failQueued(name, error);
    // Every worker of its engine unloads it (running jobs finish first) and deletes its files.
    const requestId = randomUUID();
    const p = d.redis.pipeline();
    for (const w of snap.workers.filter((x) => x.engine === entry.engine)) sendControl(p, d.keys, w.workerId, { type: 'delete', model: name, requestId, at: Date.now() });
    if (p.length > 0) await execOrThrow(p);
    // A submission that read the catalog just before it changed may still queue a job: fail it too.
    setTimeout(() => void d.jobs.failQueued(name, error).catch(() => undefined), 1_000).unref();
    res.status(200).end();
  });

  r.post('/api/pull', d.admin, pullRoute(d));
  return r;
}
