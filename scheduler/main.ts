/** `npm run scheduler`: one scheduler process; several may run, the lease holder acts. */
import { createLogger } from '../protocol/logger.js';
import { connectRedis } from '../protocol/redis-config.js';
import { createScaleActuator, listenSchedulerHttp, schedulerConfigFromEnv, startScheduler, type SchedulerHttpServer } from './index.js';

const log = createLogger('scheduler');
const cfg = schedulerConfigFromEnv(process.env);
const scale = createScaleActuator(cfg.scale, { log });
const { redis, keys } = connectRedis(cfg);
// Without a listener ioredis prints every failed reconnect as an unhandled error.
redis.on('error', (err) => log.warn({ err }, 'Redis connection error'));
const scheduler = await startScheduler({ redis, keys, log, options: cfg.options, scaler: scale.actuator });
let http: SchedulerHttpServer | null = null;
if (cfg.http.port > 0) {
  http = await listenSchedulerHttp(cfg.http.port, cfg.http.host, { scheduler, desiredScale: scale.desiredScale });
  log.info({ url: http.url, actuator: cfg.scale.kind }, 'Scheduler HTTP listening');
}

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
