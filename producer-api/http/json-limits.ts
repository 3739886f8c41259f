/**
 * Limits on free-form JSON (request bodies, `metadata`, `format`, options): nesting depth and
 * serialized size, checked without recursion so a 10,000-deep document cannot blow the stack
 * here or later (the job store serializes these fields).
 */

/** Deepest nesting a request body may have. */
export const MAX_JSON_DEPTH = 32;
/** Largest serialized `metadata` or `format`, in bytes. */
export const MAX_FREEFORM_BYTES = 16 * 1024;

/** True when `value` nests objects or arrays deeper than `max` levels. */
export function deeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

/** Serialized size in bytes (call after `deeperThan` has bounded the depth). */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '');
}
