/** A request body checked against a schema, refused with a 400 that says what is wrong. */
import type { z } from 'zod';
import { badRequest } from '../http/http-error.ts';
import { describeZodError } from '../http/request-parsing.ts';

export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) throw badRequest('invalid_request', describeZodError(r.error));
  return r.data;
}
