/** Starts the API deployable: HTTP server plus the webhook delivery worker. */
import { applyServerTimeouts, closeServer } from './http/server-timeouts.ts';
import type { Server } from 'node:http';
import type { RedisClient } from '../store/redis-client.ts';
import type { Keys } from '../protocol/keys.ts';
import type { Logger } from '../protocol/logger.ts';
import { listenError } from '../protocol/startup.ts';
import { generateWebhookSecret } from '../protocol/webhook-signing.ts';
import { createApi, type Api } from './app.ts';
import type { ApiConfig } from './settings/config.ts';
import { WebhookDeliveryWorker } from './webhooks/delivery-worker.ts';
import { parseAllowList } from './webhooks/ssrf-guard.ts';

export interface RunningApi {
  api: Api;
  url: string;
  webhookSecret: string;
  close(): Promise<void>;
}

/** `redis` is the request handlers' connection, `background` the one BullMQ workers and subscribers wait on. */
export async function runApi(cfg: ApiConfig, d: { redis: RedisClient; background: RedisClient; keys: Keys; log: Logger }): Promise<RunningApi> {
  const { redis, background, keys, log } = d;
  if (cfg.options.apiKeys.size === 0) log.warn({}, 'Auth is off: FABRIC_API_KEYS is not set, every caller is tenant "default"');
  let secret = cfg.webhookSecret;
  if (!secret) {
    secret = generateWebhookSecret();
    log.warn({ webhookSecret: secret }, 'FABRIC_WEBHOOK_SECRET is not set; webhooks are signed with this secret generated at start');
  }
  const api = createApi(cfg.options, { redis, background, keys, log, resultTtlSec: cfg.resultTtlSec, batch: cfg.batch });
  await api.ready();
  const deliveries = new WebhookDeliveryWorker({ connection: background, keys, secret, allowList: parseAllowList(cfg.options.webhookAllowList), logger: log });
  let server: Server;
  try {
    server = await new Promise((resolve, reject) => {
      // Express 5 hands a listen error to this callback (and the server then serves nothing).
      const s = api.app.listen(cfg.port, cfg.host, (err?: Error) => (err ? reject(err) : resolve(applyServerTimeouts(s)))).once('error', reject);
    });
  } catch (err) {
    await deliveries.close().catch(() => undefined);
    await api.close().catch(() => undefined);
    throw listenError(err as NodeJS.ErrnoException, 'API', cfg.host, cfg.port, 'PORT');
  }
  const shownHost = cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host;
  let closing: Promise<void> | null = null;
  return {
    api,
    url: `http://${shownHost}:${cfg.port}`,
    webhookSecret: secret,
    close() {
      closing ??= (async () => {
        const steps = [() => closeServer(server), () => deliveries.close(), () => api.close()];
        for (const step of steps) {
          try {
            await step();
          } catch (err) {
            log.warn({ err }, 'API close step failed');
          }
        }
      })();
      return closing;
    },
  };
}
