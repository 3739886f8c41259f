/** `npm run api`: the HTTP API alone. */
import { createKeys } from '../protocol/keys.js';
import { createLogger } from '../protocol/logger.js';
import { connectForRequests, redisConfigFromEnv } from '../protocol/redis-config.js';
import { startOrExit } from '../protocol/startup.js';
import { BULL_BOARD_PATH } from './routes/admin.js';
import { CLUSTER_VIEW_PATH } from './routes/cluster-view-page.js';
import { apiConfigFromEnv } from './settings/config.js';
import { runApi } from './run-api.js';

const log = createLogger('api');
const { running, conns } = await startOrExit('api', async (cleanups) => {
  const cfg = apiConfigFromEnv(process.env);
  const redisCfg = redisConfigFromEnv(process.env);
  const conns = await connectForRequests(redisCfg, log);
  cleanups.add(() => conns.disconnect());
  const running = await runApi(cfg, { redis: conns.requests, background: conns.background, keys: createKeys(redisCfg.prefix), log });
  return { running, conns };
});
log.info({ url: running.url, bullBoard: `${running.url}${BULL_BOARD_PATH}`, clusterView: `${running.url}${CLUSTER_VIEW_PATH}` }, 'API listening');

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void running.close().finally(() => {
      conns.disconnect();
      process.exit(0);
    });
  });
}
