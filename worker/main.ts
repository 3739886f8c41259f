/** `npm run worker`: one worker process next to its engine. */
import { createLogger } from '../protocol/logger.ts';
import { awaitRedisAtStart, connectRedis, redisConfigFromEnv } from '../store/redis-config.ts';
import { startOrExit } from '../protocol/startup.ts';
import { workerConfigFromEnv } from './config.ts';
import { OllamaServeSupervisor } from './engines/ollama/serve-supervisor.ts';
import { runWorker } from './run-worker.ts';

const log = createLogger('worker');
const { cfg, redis, worker, serve } = await startOrExit('worker', async (cleanups) => {
  const cfg = workerConfigFromEnv(process.env);
  const redisCfg = redisConfigFromEnv(process.env);
  // The GPU worker image: Ollama runs as this process's child, in the container that owns the GPU.
  const serve =
    cfg.engine.kind === 'ollama' && cfg.engine.serve
      ? new OllamaServeSupervisor({ command: cfg.engine.command, url: cfg.engine.url, readyTimeoutMs: 120_000, stopTimeoutMs: 20_000 }, log)
      : null;
  if (serve) {
    await serve.start();
    cleanups.add(() => serve.stop());
    // Without its engine the worker is no use: exit, and the pod (or container) restarts both.
    serve.onExit(() => process.exit(1));
  }
  const { redis, keys } = connectRedis(redisCfg, log);
  cleanups.add(() => redis.disconnect());
  await awaitRedisAtStart(redis, redisCfg.redisUrl);
  const worker = await runWorker(cfg, { redis, keys, log, serveMetrics: true });
  return { cfg, redis, worker, serve };
});
log.info({ workerId: worker.node.id, engine: cfg.engine.kind }, 'Worker started');

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'Draining: no new jobs, finishing active ones');
    void worker
      .close()
      .then(() => serve?.stop())
      .finally(() => {
        redis.disconnect();
        process.exit(0);
      });
  });
}
