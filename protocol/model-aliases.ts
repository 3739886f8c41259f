/**
 * Aliases (`POST /api/copy`) and derived models (`POST /api/create` with `from`): names in the
 * catalog hash `keys.modelAliases()` whose jobs run on a base model of the catalog, with defaults
 * applied (system prompt, template, parameters). They share the base's weights: nothing is
 * copied to any disk. Chains are flattened when written, so `from` is always a base model.
 */
import { z } from 'zod';
import { optionsSchema, type JobInput, type Task } from './job.ts';
import { parseJsonAs } from './parse-json.ts';

export const derivedModelSchema = z.object({
  /** The base model in the catalog whose weights and engine it uses. */
  from: z.string().min(1),
  system: z.string().optional(),
  template: z.string().optional(),
  parameters: optionsSchema.optional(),
  createdAt: z.string(),
});
export type DerivedModel = z.infer<typeof derivedModelSchema>;

/** The aliases hash's fields, each validated; malformed ones are skipped. */
export function parseAliases(raw: Record<string, string>): Map<string, DerivedModel> {
  const out = new Map<string, DerivedModel>();
  for (const [name, json] of Object.entries(raw)) {
    const d = parseJsonAs(derivedModelSchema, json);
    if (d) out.set(name, d);
  }
  return out;
}

/** What a create or copy adds on top of its source. */
export type DerivedDefaults = Pick<DerivedModel, 'system' | 'template' | 'parameters'>;

/**
 * A new derived model from `source` (a base model or an existing alias, whose base and defaults
 * it inherits; `extra` overrides them).
 */
export function derive(source: string, aliases: ReadonlyMap<string, DerivedModel>, extra: DerivedDefaults, now: Date): DerivedModel {
  const parent = aliases.get(source);
  const base: DerivedDefaults = parent ?? {};
  const parameters = base.parameters || extra.parameters ? { ...base.parameters, ...extra.parameters } : undefined;
  const system = extra.system ?? base.system;
  const template = extra.template ?? base.template;
  return {
    from: parent?.from ?? source,
    ...(system !== undefined ? { system } : {}),
    ...(template !== undefined ? { template } : {}),
    ...(parameters ? { parameters } : {}),
    createdAt: now.toISOString(),
  };
}

/**
 * A job's input with the derived model's defaults under it: the request's own options, system
 * prompt (a chat's own system message) and template win.
 */
export function applyDerived(d: DerivedModel, task: Task, input: JobInput): JobInput {
  const out: JobInput = { ...input };
  if (d.parameters) out.options = { ...d.parameters, ...input.options };
  if (task === 'generate') {
    if (d.system !== undefined && input.system === undefined) out.system = d.system;
    if (d.template !== undefined && input.template === undefined) out.template = d.template;
  }
  if (task === 'chat' && d.system !== undefined && !(input.messages ?? []).some((m) => m.role === 'system')) {
    out.messages = [{ role: 'system', content: d.system }, ...(input.messages ?? [])];
  }
  return out;
}
