/**
 * Reads the fleet from Redis (heartbeats, catalog, measured footprints), each entry validated by
 * protocol/fleet.ts's parsers.
 */
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './redis-client.js';
import { parseCatalog, parseFootprints, parseHeartbeats, type Fleet } from '../protocol/fleet.js';
import type { Keys } from '../protocol/keys.js';

/**
 * Reads the fleet in two round trips. Ids in the workers index whose heartbeat expired are
 * returned as `gone` (the caller may prune them from the index).
 */
export async function readFleet(redis: RedisClient, keys: Keys): Promise<Fleet & { gone: string[] }> {
  const [ids, catalogRaw, footprintsRaw] = (await execOrThrow(redis.pipeline().smembers(keys.workersIndex()).hgetall(keys.catalog()).hgetall(keys.footprints()))) as [
    string[],
    Record<string, string>,
    Record<string, string>,
  ];
  const raw = ids.length > 0 ? await redis.mget(ids.map((id) => keys.workerHeartbeat(id))) : [];
  return {
    workers: parseHeartbeats(raw),
    gone: ids.filter((_, i) => raw[i] === null),
    catalog: parseCatalog(catalogRaw),
    measured: parseFootprints(footprintsRaw),
  };
}

/** Runs a pipeline and returns its replies, throwing the first command error. */
export async function execOrThrow(p: ChainableCommander): Promise<unknown[]> {
  const res = await p.exec();
  if (!res) throw new Error('redis pipeline returned no result');
  return res.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
