/**
 * The one read of the fleet from Redis, for the API's fleet view and the scheduler's snapshot:
 * worker heartbeats, the catalog, measured footprints and operators' holds, each entry validated
 * by protocol/'s parsers. Two round trips: the fleet's hashes and the workers index, then the
 * heartbeats together with whatever the caller adds (the scheduler's queue reads).
 */
import type { ChainableCommander } from 'ioredis';
import { crossSlotPipeline, type RedisClient } from './redis-client.ts';
import { parseCatalog, parseFootprints, parseHeartbeats, parseLoadSpeedEntries, type Fleet } from '../protocol/fleet.ts';
import type { Keys } from '../protocol/keys.ts';
import { parseHolds, type OperatorHold } from '../protocol/operator-holds.ts';
import type { CatalogEntry } from '../protocol/worker-state.ts';
import { parseAliases, type DerivedModel } from '../protocol/model-aliases.ts';

export interface FleetRead extends Fleet {
  /** Ids in the workers index whose heartbeat expired (the caller may prune them from the index). */
  readonly gone: string[];
  /** Operators' holds and pins by model. */
  readonly holds: Map<string, OperatorHold>;
  /** Aliases and derived models by name. */
  readonly aliases: Map<string, DerivedModel>;
  /** Load speeds measured per tier, bytes/s by `<engine> <tier>` (protocol/load-speeds.ts). */
  readonly loadSpeeds: Map<string, number>;
  /** The replies to what `more` added, in order. */
  readonly more: unknown[];
}

/**
 * Reads the fleet. `more` may add commands to the second round trip (it sees the catalog just
 * read); their keys may live in any cluster slot.
 */
export async function readFleet(
  redis: RedisClient,
  keys: Keys,
  more?: (p: ChainableCommander, catalog: ReadonlyMap<string, CatalogEntry>) => void,
): Promise<FleetRead> {
  const [ids, catalogRaw, footprintsRaw, holdsRaw, speedsRaw, aliasesRaw] = (await execOrThrow(
    redis.pipeline().smembers(keys.workersIndex()).hgetall(keys.catalog()).hgetall(keys.footprints()).hgetall(keys.operatorHolds()).hgetall(keys.loadSpeeds()).hgetall(keys.modelAliases()),
  )) as [string[], Record<string, string>, Record<string, string>, Record<string, string>, Record<string, string>, Record<string, string>];
  const catalog = parseCatalog(catalogRaw);
  const p = crossSlotPipeline(redis);
  if (ids.length > 0) p.mget(ids.map((id) => keys.workerHeartbeat(id)));
  more?.(p, catalog);
  const rows = p.length > 0 ? await execOrThrow(p) : [];
  const raw = ids.length > 0 ? (rows.shift() as (string | null)[]) : [];
  return {
    workers: parseHeartbeats(raw),
    gone: ids.filter((_, i) => raw[i] === null),
    catalog,
    measured: parseFootprints(footprintsRaw),
    holds: parseHolds(holdsRaw),
    aliases: parseAliases(aliasesRaw),
    loadSpeeds: parseLoadSpeedEntries(speedsRaw),
    more: rows,
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
