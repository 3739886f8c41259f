/** Bounded waits for shutdown paths, where a command queued on a dead Redis would never settle. */

/** Waits for `p` up to `ms`; resolves 'timeout' instead of hanging, rethrows if `p` rejects first. */
export async function settleWithin<T>(p: Promise<T> | null | undefined, ms: number): Promise<T | 'timeout' | undefined> {
  if (!p) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
