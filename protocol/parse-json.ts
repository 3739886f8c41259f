/** Reading JSON written by another process: parsed and checked against its schema, or null. */
import type { z } from 'zod';

/** `raw` parsed and validated by `schema`; null when it is not JSON or does not match. */
export function parseJsonAs<T>(schema: z.ZodType<T>, raw: string): T | null {
  try {
    const r = schema.safeParse(JSON.parse(raw));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
