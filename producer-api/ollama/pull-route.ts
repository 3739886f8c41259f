/**
 * `POST /api/pull`: sends a pull to the worker the fleet would load the model on (or, with
 * `"workers": "all"` in the body or `?workers=all`, to every running worker of its engine),
 * then relays their reports as Ollama's NDJSON statuses, ending in `{"status":"success"}` once
 * every target has the model (one object with `stream: false`). The answer's status waits for
 * the first report past `pulling manifest`, so a name no source knows is a 4xx, not a 200 with
 * an error line.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { callerError } from '../../protocol/errors.ts';
import type { Keys } from '../../protocol/keys.ts';
import type { PullReport } from '../../protocol/pull.ts';
import { usableBytes } from '../../protocol/vram-rule.ts';
import type { Heartbeat } from '../../protocol/worker-state.ts';
import { sendControl } from '../../store/control-stream.ts';
import { execOrThrow } from '../../store/fleet-reader.ts';
import { readPullReports } from '../../store/pull-reports.ts';
import type { RedisClient } from '../../store/redis-client.ts';
import { baseModelOf, pickWorkerForLoad, type FleetSnapshot, type FleetView } from '../fleet/fleet-view.ts';
import { HttpError, badRequest } from '../http/http-error.ts';
import { parseModelName } from '../http/request-parsing.ts';
import { parseBody } from './body.ts';

/** Engines whose workers can pull. */
const PULLING_ENGINES = new Set(['llama-cpp', 'ollama']);
/** How often the reports are read. */
const POLL_MS = 100;
/** A pull whose workers report nothing for this long is answered as failed (it may go on). */
export const PULL_SILENCE_MS = 300_000;

const pullSchema = z.object({
  model: z.string().optional(),
  name: z.string().optional(),
  stream: z.boolean().optional(),
  insecure: z.boolean().optional(),
  /** Fabric extension: `all` pulls to every running worker of the model's engine. */
  workers: z.enum(['all', 'one']).optional(),
  /** Fabric extension (llama.cpp workers): a GGUF URL for this name, and its sha256. */
  url: z.string().url().optional(),
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/).optional(),
});

export interface PullRouteDeps {
  fleet: FleetView;
  redis: RedisClient;
  keys: Keys;
}

/** The workers a pull goes to: every eligible one, or the one a load would pick (else the roomiest). */
export function pullTargets(snap: FleetSnapshot, model: string, all: boolean): Heartbeat[] {
  const engine = snap.catalog.get(model)?.engine;
  const eligible = snap.workers.filter((w) => w.state === 'running' && w.engineHealthy && PULLING_ENGINES.has(w.engine) && (engine === undefined || w.engine === engine));
  if (all || eligible.length <= 1) return eligible;
  if (engine !== undefined) {
    const pick = pickWorkerForLoad(snap, model);
    if (pick.ok) return [pick.worker];
  }
  return [eligible.sort((a, b) => usableBytes(b) - usableBytes(a) || a.workerId.localeCompare(b.workerId))[0]!];
}

/** Ollama's status line from a worker's report (its worker id kept as an extra field). */
function statusLine(r: Extract<PullReport, { status: string }>) {
  return { status: r.status, ...(r.completed !== undefined ? { completed: r.completed } : {}), ...(r.total !== undefined ? { total: r.total } : {}), worker: r.worker };
}

function failureOf(e: Extract<PullReport, { error: string }>): HttpError {
  const caller = callerError(e.code);
  if (caller) return new HttpError(caller.status, caller.code, e.error);
  return new HttpError(e.code === 'insufficient_disk' ? 507 : 500, e.code === 'insufficient_disk' ? 'insufficient_disk' : 'pull_failed', `pull failed on ${e.worker}: ${e.error}`);
}

export function pullRoute(d: PullRouteDeps): RequestHandler {
  return async (req: Request, res: Response) => {
    const b = parseBody(pullSchema, req.body);
    const model = parseModelName(b.model ?? b.name);
    const snap = await d.fleet.snapshot(0);
    const base = baseModelOf(snap, model);
    const all = b.workers === 'all' || req.query.workers === 'all';
    const targets = pullTargets(snap, base, all);
    if (targets.length === 0) {
      // No worker running at all may pass (a restart): retry. Workers that cannot pull will not change.
      if (!snap.workers.some((w) => w.state === 'running')) throw new HttpError(503, 'not_ready', 'no worker is running; retry shortly', { 'Retry-After': '5' });
      throw new HttpError(409, 'engine_unavailable', `no running worker can pull ${base}: pulls need a healthy worker of the llama-cpp or ollama engine${snap.catalog.get(base) ? ` (${base} is served by the ${snap.catalog.get(base)!.engine} engine)` : ''}`);
    }
    if (b.url && targets.some((w) => w.engine !== 'llama-cpp')) throw badRequest('invalid_request', 'url is only for llama-cpp workers; Ollama pulls from its own registry');
    const requestId = randomUUID();
    const p = d.redis.pipeline();
    for (const w of targets) sendControl(p, d.keys, w.workerId, { type: 'pull', model: base, requestId, at: Date.now(), ...(b.url ? { url: b.url } : {}), ...(b.sha256 ? { sha256: b.sha256.toLowerCase() } : {}) });
    await execOrThrow(p);

    const stream = b.stream ?? true;
    const gone = new AbortController();
    res.on('close', () => !res.writableFinished && gone.abort());
    const pending = new Set(targets.map((w) => w.workerId));
    const held: object[] = [];
    let failure: HttpError | null = null;
    const emit = (line: object) => {
      if (!stream) return;
      if (!res.headersSent) {
        res.status(200).setHeader('Content-Type', 'application/x-ndjson');
        for (const h of held.splice(0)) res.write(`${JSON.stringify(h)}\n`);
      }
      res.write(`${JSON.stringify(line)}\n`);
    };
    let after = '0';
    let heardAt = Date.now();
    while (pending.size > 0 && !gone.signal.aborted) {
      const { reports, last } = await readPullReports(d.redis, d.keys, requestId, after);
      after = last;
      for (const r of reports) {
        heardAt = Date.now();
        if ('done' in r) pending.delete(r.worker);
        else if ('error' in r) {
          pending.delete(r.worker);
          failure ??= failureOf(r);
        } else if (r.status === 'pulling manifest' && !res.headersSent) held.push(statusLine(r));
        else emit(statusLine(r));
      }
      if (pending.size === 0) break;
      if (Date.now() - heardAt > PULL_SILENCE_MS) {
        failure ??= new HttpError(504, 'timeout', `no report from ${[...pending].join(', ')} for ${PULL_SILENCE_MS / 1000} s; the pull may still finish there`);
        break;
      }
      await sleep(POLL_MS);
    }
    if (gone.signal.aborted) return;
    d.fleet.invalidate();
    if (failure && !res.headersSent) throw failure;
    if (failure) return void res.end(`${JSON.stringify({ error: failure.message })}\n`);
    if (!stream) return void res.json({ status: 'success' });
    emit({ status: 'success' });
    res.end();
  };
}
