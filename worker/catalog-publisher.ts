/**
 * The shared catalog as one worker sees it: every model its engine can serve, with the engine's
 * footprint estimate where it has one, written into the catalog hash the API and scheduler read.
 */
import type { Keys } from '../protocol/keys.ts';
import type { CatalogEntry } from '../protocol/worker-state.ts';
import type { RedisClient } from '../store/redis-client.ts';
import type { Engine } from './engines/port/engine.ts';

/** Writes every model `engine` can serve into the shared catalog; nothing when it serves none. */
export async function publishCatalog(engine: Engine, redis: RedisClient, keys: Keys): Promise<void> {
  const models = await engine.catalog();
  if (models.length === 0) return;
  const fields: string[] = [];
  const estimates = await Promise.all(models.map((m) => engine.estimateFootprint?.(m.name).catch(() => undefined)));
  for (const [i, m] of models.entries()) {
    const entry: CatalogEntry = {
      name: m.name,
      sizeBytes: m.sizeBytes,
      engine: engine.kind,
      family: m.family ?? null,
      parameterSize: m.parameterSize ?? null,
      quantization: m.quantization ?? null,
      digest: m.digest ?? null,
      modifiedAt: m.modifiedAt ?? new Date().toISOString(),
      contextLength: m.contextLength ?? null,
      trainedContextLength: m.trainedContextLength ?? null,
      estimatedBytes: estimates[i]?.totalBytes ?? null,
    };
    fields.push(m.name, JSON.stringify(entry));
  }
  await redis.hset(keys.catalog(), ...fields);
}
