/** `npm run scheduler`: one scheduler process; several may run, the lease holder acts. */
import { createLogger } from '../protocol/logger.ts';
import { awaitRedisAtStart, connectRedis } from '../store/redis-config.ts';
import { listenError, startOrExit } from '../protocol/startup.ts';
import { createScaleActuator, listenSchedulerHttp, schedulerConfigFromEnv, startScheduler, type SchedulerHttpServer } from './index.ts';

const log = createLogger('scheduler');
const { redis, scheduler, http } = await startOrExit('scheduler', async (cleanups) => {
  const cfg = schedulerConfigFromEnv(process.env);
  const scale = createScaleActuator(cfg.scale, { log });
  const { redis, keys } = connectRedis(cfg, log);
  cleanups.add(() => redis.disconnect());
  await awaitRedisAtStart(redis, cfg.redisUrl);
  const scheduler = await startScheduler({ redis, keys, log, options: cfg.options, scaler: scale.actuator });
  cleanups.add(() => scheduler.close());
  let http: SchedulerHttpServer | null = null;
  if (cfg.http.port > 0) {
    http = await listenSchedulerHttp(cfg.http.port, cfg.http.host, { scheduler, desiredScale: scale.desiredScale }).catch((err: NodeJS.ErrnoException) => {
      throw listenError(err, 'scheduler HTTP', cfg.http.host, cfg.http.port, 'FABRIC_SCHEDULER_PORT');
    });
    log.info({ url: http.url, actuator: cfg.scale.kind }, 'Scheduler HTTP listening');
  }
  return { redis, scheduler, http };
});

let stopping = false;
const stop = async (signal: NodeJS.Signals): Promise<void> => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'Scheduler shutting down');
  try {
    await scheduler.close();
  } catch (err) {
    log.error({ err }, 'Scheduler close failed');
  }
  try {
    await http?.close();
  } catch (err) {
    log.warn({ err }, 'Scheduler HTTP close failed');
  }
  // quit() would wait for a reconnect that may never come; nothing is left to flush.
  redis.disconnect();
  process.exit(0);
};
process.on('SIGTERM', (s) => void stop(s));
process.on('SIGINT', (s) => void stop(s));
