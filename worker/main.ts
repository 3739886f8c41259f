/** `npm run worker`: one worker process next to its engine. */
import { createLogger } from '../protocol/logger.js';
import { connectRedis, redisConfigFromEnv } from '../protocol/redis-config.js';
import { workerConfigFromEnv } from './config.js';
import { runWorker } from './run-worker.js';

const log = createLogger('worker');
const cfg = workerConfigFromEnv(process.env);
const { redis, keys } = connectRedis(redisConfigFromEnv(process.env));
const worker = await runWorker(cfg, { redis, keys, log, serveMetrics: true });
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
