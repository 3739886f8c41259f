/** Writes operators' holds and pins (protocol/operator-holds.ts holds their meaning; store/fleet-reader.ts reads them). */
import type { RedisClient } from './redis-client.ts';
import type { Keys } from '../protocol/keys.ts';
import type { OperatorHold, OperatorHoldKind } from '../protocol/operator-holds.ts';

/** Sets the model's hold or pin (`forMs` 0: until the next operator command), or clears it (`kind` null). */
export async function setHold(
  redis: RedisClient,
  keys: Keys,
  model: string,
  kind: OperatorHoldKind | null,
  forMs: number,
  now = Date.now(),
): Promise<OperatorHold | null> {
  if (kind === null) {
    await redis.hdel(keys.operatorHolds(), model);
    return null;
  }
  const hold: OperatorHold = { kind, until: forMs > 0 ? now + forMs : 0, at: now };
  await redis.hset(keys.operatorHolds(), model, JSON.stringify(hold));
  return hold;
}
