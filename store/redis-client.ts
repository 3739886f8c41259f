/**
 * The client type every part of the fabric talks to Redis through: one server (or a
 * sentinel-managed master) is an ioredis `Redis`, a Redis Cluster an ioredis `Cluster`. Both
 * take the same commands; what differs is spelled here once:
 * - a pipeline or MULTI on a cluster must keep to one slot (one node), so reads that gather keys
 *   of several owners go through `crossSlotPipeline`;
 * - `duplicate()` has a different signature on each, so it goes through `duplicateClient`.
 */
import type { ChainableCommander, Cluster, Redis } from 'ioredis';

export type RedisClient = Redis | Cluster;

/** True for a Redis Cluster client (keys of one command, script or MULTI must share a slot). */
export function isCluster(redis: RedisClient): redis is Cluster {
  return redis.isCluster;
}

/** A new connection to the same Redis with the same options (for subscribers and blocking reads). */
export function duplicateClient(redis: RedisClient): RedisClient {
  return isCluster(redis) ? redis.duplicate() : redis.duplicate();
}

/**
 * A pipeline whose commands may touch keys in different slots. On one server it is a plain
 * pipeline (one round trip). On a cluster, where a pipeline must stay on one node, each
 * command is sent on its own, all at once, and `exec()` gathers the replies in order in the
 * pipeline's `[error, reply]` shape; commands are not atomic together in either case.
 */
export function crossSlotPipeline(redis: RedisClient): ChainableCommander {
  if (!isCluster(redis)) return redis.pipeline();
  const calls: { name: string; args: unknown[] }[] = [];
  const send = redis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const recorder: ChainableCommander = new Proxy({} as ChainableCommander, {
    get(_target, prop) {
      if (prop === 'exec') {
        return () => Promise.all(calls.map(({ name, args }) => send[name]!(...args).then((v): [null, unknown] => [null, v], (e: Error): [Error, null] => [e, null])));
      }
      if (prop === 'length') return calls.length;
      if (typeof prop !== 'string' || typeof send[prop] !== 'function') return undefined;
      return (...args: unknown[]) => {
        calls.push({ name: prop, args });
        return recorder;
      };
    },
  });
  return recorder;
}
