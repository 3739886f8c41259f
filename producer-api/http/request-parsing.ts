/** Turning raw request parts into validated values, with clear 4xx errors. */
import type { ZodError } from 'zod';
import { resolveTask, submitSchema, type SubmitBody, type Task } from '../../protocol/job.ts';
import { InvalidModelNameError, canonicalModelName } from '../../protocol/model-names.ts';
import { HttpError, badRequest } from './http-error.ts';
import { MAX_FREEFORM_BYTES, jsonBytes } from './json-limits.ts';

export function describeZodError(err: ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`)
    .join('; ');
}

export function parseModelName(name: unknown): string {
  if (typeof name !== 'string') throw badRequest('invalid_request', 'model must be a string');
  try {
    return canonicalModelName(name);
  } catch (err) {
    if (err instanceof InvalidModelNameError) throw badRequest('invalid_model_name', err.message);
    throw err;
  }
}

/** Parses a `POST /v1/jobs` body. */
export function parseSubmit(body: unknown): { body: SubmitBody; model: string; task: Task } {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('invalid_request', 'request body must be a JSON object');
  }
  const parsed = submitSchema.safeParse(body);
  if (!parsed.success) throw badRequest('invalid_request', describeZodError(parsed.error));
  const model = parseModelName(parsed.data.model);
  for (const [field, value] of [['metadata', parsed.data.metadata], ['input.format', parsed.data.input.format]] as const) {
    if (value !== undefined && jsonBytes(value) > MAX_FREEFORM_BYTES) throw badRequest('invalid_request', `${field} is larger than ${MAX_FREEFORM_BYTES} bytes`);
  }
  const task = resolveTask(parsed.data);
  if ('error' in task) throw new HttpError(422, 'invalid_input', task.error);
  if (task.task === 'chat' && parsed.data.input.messages?.length === 0) throw badRequest('invalid_input', 'input.messages is empty: a chat needs at least one message');
  return { body: parsed.data, model, task: task.task };
}

/** Seconds asked for by `Prefer: wait=N` (RFC 7240), or undefined. */
export function preferWaitSec(header: string | undefined): number | undefined {
  const m = /(?:^|[;,\s])wait\s*=\s*"?(\d+)"?/i.exec(header ?? '');
  return m ? Number(m[1]) : undefined;
}

/** A `?wait=N` query value in seconds. */
export function queryWaitSec(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n)) {
    throw badRequest('invalid_request', 'wait must be a number of seconds');
  }
  return n;
}

export function idempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(header)) throw badRequest('invalid_idempotency_key', 'Idempotency-Key must be 1-255 visible ASCII characters');
  return header;
}
