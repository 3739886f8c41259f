/**
 * Where a `format` schema must be checked before a job is queued. The llama.cpp engine enforces
 * a schema with the fabric's compiler, so the API refuses at submit time exactly what that
 * compiler refuses. Ollama compiles `format` in its own runner and answers its own errors, so
 * schemas go to it unchanged. Any other engine (the fake one, engines to come) gets the
 * fabric's check too: a schema is refused unless something is known to enforce it.
 */
import type { JobInput } from './job.ts';
import { compileJsonSchema, type SchemaRefusal } from './json-schema/index.ts';

/** Engines that enforce a `format` schema themselves. */
export const SELF_ENFORCING_ENGINES: ReadonlySet<string> = new Set(['ollama']);

/** The refusal for a job's `format` on an engine of kind `engine`, or null when it may be queued. */
export function formatRefusal(engine: string | undefined, format: JobInput['format']): SchemaRefusal | null {
  if (format === undefined || format === 'json') return null;
  if (engine !== undefined && SELF_ENFORCING_ENGINES.has(engine)) return null;
  const compiled = compileJsonSchema(format);
  return compiled.ok ? null : compiled.refusal;
}
