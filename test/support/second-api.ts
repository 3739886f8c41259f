/** A second API instance on a test fabric's Redis namespace, to show state shared across instances. */
import { applyServerTimeouts, closeServer } from '../../producer-api/http/server-timeouts.ts';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Redis } from 'ioredis';
import { createApi } from '../../producer-api/app.ts';
import type { ApiOptions } from '../../producer-api/settings/options.ts';
import type { Keys } from '../../protocol/keys.ts';
import { log } from './fabric.ts';
import { redisUrl } from './redis.ts';

export async function startSecondApi(opts: ApiOptions, keys: Keys): Promise<{ url: string; close(): Promise<void> }> {
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  const api = createApi(opts, { redis, keys, log, batch: { tickMs: 100 } });
  await api.ready();
  const server: Server = await new Promise((resolve) => {
    const s = api.app.listen(0, '127.0.0.1', () => resolve(applyServerTimeouts(s)));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await closeServer(server, 500);
      await api.close();
      redis.disconnect();
    },
  };
}
