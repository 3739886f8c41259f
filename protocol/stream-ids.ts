/** Redis stream ids (`<ms>-<seq>`, each an unsigned 64-bit number): parsing and order. */

const STREAM_ID = /^(\d{1,20})-(\d{1,20})$/;
const U64_MAX = 2n ** 64n - 1n;

/** A stream id Redis accepts as a comparable pair, or null. */
export function parseStreamId(text: string): [bigint, bigint] | null {
  const m = STREAM_ID.exec(text);
  if (!m) return null;
  const ms = BigInt(m[1]!);
  const seq = BigInt(m[2]!);
  return ms <= U64_MAX && seq <= U64_MAX ? [ms, seq] : null;
}

export const streamIdAfter = (a: [bigint, bigint], b: [bigint, bigint]) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);

/** Whether stream id `a` comes after `b`; everything comes after `-` (the stream's start). */
export function streamIdTextAfter(a: string, b: string): boolean {
  if (b === '-') return true;
  const pa = parseStreamId(a);
  const pb = parseStreamId(b);
  return pa !== null && pb !== null && streamIdAfter(pa, pb);
}
