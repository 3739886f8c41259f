/** Writes of the aliases hash (protocol/model-aliases.ts); reads go with the fleet (store/fleet-reader.ts). */
import type { RedisClient } from './redis-client.ts';
import type { Keys } from '../protocol/keys.ts';
import type { DerivedModel } from '../protocol/model-aliases.ts';

export async function setAlias(redis: RedisClient, keys: Keys, name: string, d: DerivedModel): Promise<void> {
  await redis.hset(keys.modelAliases(), name, JSON.stringify(d));
}

/** Removes aliases; returns how many existed. */
export async function deleteAliases(redis: RedisClient, keys: Keys, names: readonly string[]): Promise<number> {
  return names.length === 0 ? 0 : redis.hdel(keys.modelAliases(), ...names);
}
