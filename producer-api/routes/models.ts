/** `GET /v1/models` and the operator's `POST /v1/models/:name/load|unload`. */
import { randomUUID } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import type { RedisClient } from '../../store/redis-client.ts';
import type { Keys } from '../../protocol/keys.ts';
import { sendControl } from '../../store/control-stream.ts';
import { type ControlCommand } from '../../protocol/control.ts';
import { execOrThrow } from '../../store/fleet-reader.ts';
import type { CatalogEntry } from '../../protocol/worker-state.ts';
import { servingContext } from '../../protocol/context-length.ts';
import { footprintKey } from '../../protocol/footprints.ts';
import { parseDurationMs } from '../../protocol/env.ts';
import { holdView } from '../../protocol/operator-holds.ts';
import { setHold } from '../../store/operator-holds.ts';
import { loadingOn, pickWorkerForLoad, residentOn, type FleetSnapshot, type FleetView } from '../fleet/fleet-view.ts';
import { HttpError, notFound } from '../http/http-error.ts';
import type { ModelQueues } from '../jobs/model-queues.ts';
import { parseModelName } from '../http/request-parsing.ts';

export interface ModelRoutesDeps {
  fleet: FleetView;
  queues: ModelQueues;
  redis: RedisClient;
  keys: Keys;
  admin: RequestHandler;
  tenant: RequestHandler;
}

/** One model in OpenAI's shape (`id`, `object`, `created`, `owned_by`), extended with residency and queue counts. */
export async function modelEntry(d: Pick<ModelRoutesDeps, 'queues'>, snap: FleetSnapshot, e: CatalogEntry) {
  return {
    id: e.name,
    object: 'model',
    created: Math.floor((Date.parse(e.modifiedAt) || 0) / 1000),
    owned_by: e.engine,
    engine: e.engine,
    size_bytes: e.sizeBytes,
    family: e.family,
    parameter_size: e.parameterSize,
    quantization: e.quantization,
    // The context a prompt must fit (the largest a worker loads it with), not the file's trained maximum.
    context_length: servingContext(snap, e.name) ?? null,
    trained_context_length: e.trainedContextLength ?? null,
    footprint: { estimated_bytes: e.estimatedBytes, measured_bytes: snap.measured.get(footprintKey(e.engine, e.name)) ?? null },
    resident_on: residentOn(snap, e.name).map((w) => {
      const m = w.resident.find((x) => x.model === e.name)!;
      return { worker: w.workerId, size_bytes: m.sizeBytes, size_vram_bytes: m.sizeVramBytes, estimated_bytes: m.estimatedBytes, active_jobs: m.activeJobs, loaded_at: new Date(m.loadedAt).toISOString(), last_used_at: new Date(m.lastUsedAt).toISOString() };
    }),
    loading_on: loadingOn(snap, e.name).map((w) => ({ worker: w.workerId, since: new Date(w.loading.find((l) => l.model === e.name)!.startedAt).toISOString() })),
    queue: await d.queues.counts(e.name),
    operator: holdView(snap.holds?.get(e.name), Date.now()),
  };
}

/**
 * One model as `/v1/models` lists it: a catalog model, or an alias or derived model on a base the
 * catalog has, as that base's entry under its own name with `parent_model` (its jobs run on the
 * base, so the base's residency and queue are its own); null when the name is neither.
 */
export async function listedModelEntry(d: Pick<ModelRoutesDeps, 'queues'>, snap: FleetSnapshot, name: string) {
  const own = snap.catalog.get(name);
  if (own) return { ...(await modelEntry(d, snap, own)), parent_model: null as string | null };
  const alias = snap.aliases?.get(name);
  const base = alias && snap.catalog.get(alias.from);
  if (!alias || !base) return null;
  return { ...(await modelEntry(d, snap, base)), id: name, created: Math.floor((Date.parse(alias.createdAt) || 0) / 1000), parent_model: alias.from };
}

/** Every model `/v1/models` lists, by name. */
export async function listedModelEntries(d: Pick<ModelRoutesDeps, 'queues'>, snap: FleetSnapshot) {
  const names = [...new Set([...snap.catalog.keys(), ...(snap.aliases?.keys() ?? [])])].sort();
  return (await Promise.all(names.map((n) => listedModelEntry(d, snap, n)))).filter((e) => e !== null);
}

/** `?pin=` / `?hold=`: a duration (`90s`, `10m`, seconds as a bare number); absent: null. */
function durationQuery(v: unknown, name: string): number | null {
  if (v === undefined) return null;
  if (typeof v !== 'string') throw new HttpError(400, 'invalid_duration', `${name} must be one duration such as 30s or 10m`);
  try {
    const ms = parseDurationMs(v);
    if (ms > 0) return ms;
  } catch {
    // reported below
  }
  throw new HttpError(400, 'invalid_duration', `${name} must be a positive duration such as 30s or 10m, got ${JSON.stringify(v)}`);
}

export function modelRoutes(d: ModelRoutesDeps): Router {
  const r = Router();

  r.get('/v1/models', d.tenant, async (_req, res) => {
    const snap = await d.fleet.snapshot(0);
    const data = await listedModelEntries(d, snap);
    res.json({ object: 'list', data, workers: snap.workers.map((w) => ({ id: w.workerId, engine: w.engine, state: w.state, capacity_bytes: w.capacityBytes, used_bytes: w.usedBytes, gpus: w.gpus.map((g) => ({ index: g.index, uuid: g.uuid, name: g.name, memory_total_bytes: g.memoryTotalBytes, memory_used_bytes: g.memoryUsedBytes, memory_free_bytes: g.memoryFreeBytes, utilization: g.utilization })), free_slots: w.freeSlots, active_jobs: w.activeJobs, engine_healthy: w.engineHealthy })) });
  });

  const command = async (workerId: string, cmd: ControlCommand) => {
    await execOrThrow(sendControl(d.redis.pipeline(), d.keys, workerId, cmd));
    d.fleet.invalidate();
  };

  // Model names may contain `/` (hf.co/org/repo:tag), so the name is everything before the verb.
  // Express has decoded the parameter already; decoding it again would misread a literal `%`.
  r.post(/^\/v1\/models\/(.+)\/load$/, d.admin, async (req, res) => {
    const model = parseModelName((req.params as Record<string, string>)[0]!);
    // A load ends any hold; `?pin=<duration>` keeps the model from eviction for that long.
    const pinMs = durationQuery(req.query.pin, 'pin');
    const snap = await d.fleet.snapshot(0);
    const entry = snap.catalog.get(model);
    if (!entry) throw notFound('model_not_found', `model ${model} is not available on any engine`);
    const pick = pickWorkerForLoad(snap, model);
    if (!pick.ok) throw new HttpError(409, pick.code === 'insufficient_vram' ? 'insufficient_vram' : 'no_worker_with_room', pick.reason);
    const worker = pick.worker;
    const cmd: ControlCommand = { type: 'load', model, requestId: randomUUID(), at: Date.now() };
    await command(worker.workerId, cmd);
    const hold = await setHold(d.redis, d.keys, model, pinMs === null ? null : 'pin', pinMs ?? 0);
    res.status(202).json({ model, action: 'load', worker: worker.workerId, need_bytes: pick.needBytes, request_id: cmd.requestId, operator: holdView(hold ?? undefined, Date.now()) });
  });

  r.post(/^\/v1\/models\/(.+)\/unload$/, d.admin, async (req, res) => {
    const model = parseModelName((req.params as Record<string, string>)[0]!);
    const holdMs = durationQuery(req.query.hold, 'hold') ?? 0;
    const snap = await d.fleet.snapshot(0);
    const only = typeof req.query.worker === 'string' ? req.query.worker : undefined;
    const targets = [...residentOn(snap, model), ...loadingOn(snap, model)].filter((w) => !only || w.workerId === only);
    if (targets.length === 0) throw notFound('model_not_resident', `model ${model} is not resident${only ? ` on ${only}` : ''}`);
    // The scheduler must not load it straight back: held until an operator load, or for `?hold=<duration>`.
    const hold = only ? null : await setHold(d.redis, d.keys, model, 'hold', holdMs);
    const requestId = randomUUID();
    for (const w of targets) await command(w.workerId, { type: 'unload', model, requestId, at: Date.now() });
    res.status(202).json({ model, action: 'unload', workers: targets.map((w) => w.workerId), request_id: requestId, operator: holdView(hold ?? undefined, Date.now()) });
  });

  return r;
}
