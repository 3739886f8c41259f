/** `npm run worker`: one worker process next to its engine. */
import { createLogger } from '../protocol/logger.js';
import { awaitRedisAtStart, connectRedis, redisConfigFromEnv } from '../protocol/redis-config.js';
import { startOrExit } from '../protocol/startup.js';
import { workerConfigFromEnv } from './config.js';
import { runWorker } from './run-worker.js';

const log = createLogger('worker');
const { cfg, redis, worker } = await startOrExit('worker', async (cleanups) => {
  const cfg = workerConfigFromEnv(process.env);
  const redisCfg = redisConfigFromEnv(process.env);
  const { redis, keys } = connectRedis(redisCfg, log);
  cleanups.add(() => redis.disconnect());
  await awaitRedisAtStart(redis, redisCfg.redisUrl);
  const worker = await runWorker(cfg, { redis, keys, log, serveMetrics: true });
  return { cfg, redis, worker };
});
log.info({ workerId: worker.node.id, engine: cfg.engine.kind }, 'Worker started');

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'Draining: no new jobs, finishing active ones');
    void worker.close().finally(() => {
      redis.disconnect();
      process.exit(0);
    });
  });
}
