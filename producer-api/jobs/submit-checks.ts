/**
 * What a submission is refused for before anything is written: an unknown model, a prompt
 * longer than the model's context, a response schema, forced call or feature the model's engine
 * would not enforce or serve, tools on a task that is not a chat. Each refusal is the HttpError
 * the client sees (404 or 400, with a code that says what to change).
 */
import { minPromptTokens, servingContext } from '../../protocol/context-length.ts';
import { featureRefusal } from '../../protocol/engine-features.ts';
import { formatRefusal } from '../../protocol/format-policy.ts';
import type { SubmitBody, Task } from '../../protocol/job.ts';
import { describeRefusal } from '../../protocol/json-schema/index.ts';
import { toolsRefusal } from '../../protocol/tools.ts';
import type { FleetSnapshot } from '../fleet/fleet-view.ts';
import { FeatureRefusedHttpError, SchemaRefusedHttpError, ToolsRefusedHttpError, badRequest, notFound } from '../http/http-error.ts';
import { UNKNOWN_LABEL, metrics } from '../settings/metrics.ts';

/** Throws the refusal of a job for `model` (canonical, aliases resolved) with `body`; returns when it may be queued. */
export function checkSubmittable(snap: FleetSnapshot, model: string, task: Task, body: SubmitBody): void {
  const entry = snap.catalog.get(model);
  if (!entry) {
    // Only known models become label values: invented names would add a series each, forever.
    metrics.jobsRejected.inc({ model: UNKNOWN_LABEL, reason: 'unknown_model' });
    throw notFound('model_not_found', `model ${model} is not available on any engine; see GET /v1/models`);
  }
  const contextLength = servingContext(snap, model);
  if (contextLength && task !== 'embed' && minPromptTokens(body.input) > contextLength) {
    throw badRequest('context_length_exceeded', `the prompt takes at least ${minPromptTokens(body.input)} tokens, more than the ${contextLength} of ${model}'s context`);
  }
  // A schema the model's engine would enforce only in part is refused now, not loosened later.
  const refusal = formatRefusal(entry.engine, body.input.format);
  if (refusal) throw new SchemaRefusedHttpError(`response schema refused: ${describeRefusal(refusal)}`, refusal);
  if (task !== 'chat' && (body.input.tools?.length || body.input.tool_choice !== undefined)) throw new ToolsRefusedHttpError({ param: 'tools', message: 'tools need a chat job' });
  // A forced call is checked as a response schema is: what the engine could not enforce is refused now.
  const toolRefusal = toolsRefusal(entry.engine, body.input);
  if (toolRefusal) throw new ToolsRefusedHttpError(toolRefusal);
  const featureRefused = featureRefusal(entry.engine, body.input);
  if (featureRefused) throw new FeatureRefusedHttpError(featureRefused);
}
