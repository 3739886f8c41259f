/** `npm run api`: the HTTP API alone; FABRIC_API_PROCESSES > 1 runs that many on the port (producer-api/processes/). */
import cluster from 'node:cluster';
import { envInt } from '../protocol/env.ts';
import { createKeys } from '../protocol/keys.ts';
import { createLogger } from '../protocol/logger.ts';
import { connectForRequests, redisConfigFromEnv } from '../store/redis-config.ts';
import { startOrExit } from '../protocol/startup.ts';
import { BULL_BOARD_PATH } from './routes/admin.ts';
import { CLUSTER_VIEW_PATH } from './routes/cluster-view-page.ts';
import { apiConfigFromEnv } from './settings/config.ts';
import { runApi } from './run-api.ts';
import { runApiPrimary } from './processes/primary.ts';
import { installMetricsRelay } from './processes/metrics-relay.ts';

const log = createLogger('api');
const processes = await startOrExit('api', async () => envInt(process.env, 'FABRIC_API_PROCESSES', 1, 1));
if (processes > 1 && cluster.isPrimary) runApiPrimary(processes, log);
else {
  installMetricsRelay();
  await serve();
}

async function serve(): Promise<void> {
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
}
