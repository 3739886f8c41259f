/** `npm run api`: the HTTP API alone. */
import { createLogger } from '../protocol/logger.js';
import { connectRedis, redisConfigFromEnv } from '../protocol/redis-config.js';
import { BULL_BOARD_PATH } from './routes/admin.js';
import { CLUSTER_VIEW_PATH } from './routes/cluster-view-page.js';
import { apiConfigFromEnv } from './settings/config.js';
import { runApi } from './run-api.js';

const log = createLogger('api');
const cfg = apiConfigFromEnv(process.env);
const { redis, keys } = connectRedis(redisConfigFromEnv(process.env));
const running = await runApi(cfg, { redis, keys, log });
log.info({ url: running.url, bullBoard: `${running.url}${BULL_BOARD_PATH}`, clusterView: `${running.url}${CLUSTER_VIEW_PATH}` }, 'API listening');

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void running.close().finally(() => {
      redis.disconnect();
      process.exit(0);
    });
  });
}
