/** `GET /v1/models/{id}`: one model in OpenAI's shape (the list is in routes/models.ts). */
import { Router } from 'express';
import type { FleetView } from '../fleet/fleet-view.ts';
import type { ModelQueues } from '../jobs/model-queues.ts';
import { listedModelEntry } from '../routes/models.ts';
import { OpenAiError } from './errors.ts';

export function openAiModelRoutes(d: { fleet: FleetView; queues: ModelQueues }): Router {
  const r = Router();
  // Model names may contain `/` (hf.co/org/repo:tag); the SDKs send the id percent-encoded.
  // Express has decoded the parameter already; decoding it again would misread a literal `%`.
  r.get(/^\/v1\/models\/(.+)$/, async (req, res) => {
    const raw = (req.params as Record<string, string>)[0]!;
    const snap = await d.fleet.snapshot(0);
    // Accept the name as listed and Ollama's short form without `:latest`.
    const entry = (await listedModelEntry(d, snap, raw)) ?? (await listedModelEntry(d, snap, `${raw}:latest`));
    if (!entry) throw new OpenAiError(404, 'model_not_found', `The model '${raw}' does not exist`, 'model', false);
    res.json(entry);
  });
  return r;
}
