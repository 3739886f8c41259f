/**
 * `npm start`: the API, one worker (embedded llama.cpp engine, demo models preloaded) and the
 * scheduler in one process, for a laptop. Each part is the same code its own entry point runs.
 */
import { apiConfigFromEnv } from '../producer-api/settings/config.ts';
import { BULL_BOARD_PATH } from '../producer-api/routes/admin.ts';
import { CLUSTER_VIEW_PATH } from '../producer-api/routes/cluster-view-page.ts';
import { runApi } from '../producer-api/run-api.ts';
import { envList } from '../protocol/env.ts';
import { createLogger } from '../protocol/logger.ts';
import { createKeys } from '../protocol/keys.ts';
import { connectForRequests, redisConfigFromEnv } from '../store/redis-config.ts';
import { startOrExit } from '../protocol/startup.ts';
import { createScaleActuator, schedulerConfigFromEnv, startScheduler } from '../scheduler/index.ts';
import { workerConfigFromEnv } from '../worker/config.ts';
import { runWorker } from '../worker/run-worker.ts';
import { ensureRedis } from './ensure-redis.ts';

const log = createLogger('fabric');
const { api, worker, scheduler, conns, ensured, apiCfg } = await startOrExit('start', async (cleanups) => {
  const env = { ...process.env };
  // The laptop default preloads the demo models unless the user chose what to preload.
  if (envList(env, 'FABRIC_PRELOAD').length === 0 && (env.FABRIC_ENGINE ?? 'llama-cpp') === 'llama-cpp') {
    env.FABRIC_PRELOAD = 'demo-chat,demo-tiny,demo-embed';
  }
  // Every variable is read before anything starts, so a bad one stops the start at once.
  const apiCfg = apiConfigFromEnv(env);
  const workerCfg = workerConfigFromEnv(env);
  const schedulerCfg = schedulerConfigFromEnv(env);
  const redisCfg = redisConfigFromEnv(env);
  const ensured = await ensureRedis(env.REDIS_URL, log, redisCfg);
  cleanups.add(() => void ensured.child?.kill('SIGTERM'));
  const conns = await connectForRequests({ ...redisCfg, redisUrl: ensured.url }, log);
  cleanups.add(() => conns.disconnect());
  const keys = createKeys(redisCfg.prefix);
  // The API first: a port in use stops the start before a worker joins the fleet, where the
  // running scheduler could count it and drain another worker in its favour.
  const api = await runApi(apiCfg, { redis: conns.requests, background: conns.background, keys, log: createLogger('api') });
  cleanups.add(() => api.close());
  const worker = await runWorker(workerCfg, { redis: conns.background, keys, log: createLogger('worker'), serveMetrics: false });
  cleanups.add(() => worker.close());
  const schedulerLog = createLogger('scheduler');
  const scale = createScaleActuator(schedulerCfg.scale, { log: schedulerLog });
  const scheduler = await startScheduler({ redis: conns.background, keys, log: schedulerLog, options: schedulerCfg.options, scaler: scale.actuator });
  cleanups.add(() => scheduler.close());
  return { api, worker, scheduler, conns, ensured, apiCfg };
});

// With auth on, the example carries the header; the key itself comes from the shell, never printed.
const authOn = apiCfg.options.apiKeys.size > 0;
const authHeader = authOn ? ` -H "Authorization: Bearer $FABRIC_KEY"` : '';
const example = `curl -s ${api.url}/v1/run${authHeader} -H 'content-type: application/json' -d '{"model":"demo-chat","task":"chat","input":{"messages":[{"role":"user","content":"hi"}],"options":{"num_predict":16}}}'`;
log.info({ api: api.url, bullBoard: `${api.url}${BULL_BOARD_PATH}`, models: `${api.url}/v1/models`, redis: ensured.url, worker: worker.node.id }, 'inference-fabric is up');
process.stdout.write(
  [
    '',
    `  inference-fabric is running`,
    `  API          ${api.url}`,
    `  Bull Board   ${api.url}${BULL_BOARD_PATH}`,
    `  Cluster view ${api.url}${CLUSTER_VIEW_PATH}`,
    `  Models       ${api.url}/v1/models`,
    `  Metrics      ${api.url}/metrics`,
    `  Redis        ${ensured.url}${ensured.dataDir ? ` (private, started for this run; data in ${ensured.dataDir}, delete it to start empty)` : ''}`,
    '',
    '  Try (the demo models have random weights: their output is gibberish):',
    ...(authOn ? ['  export FABRIC_KEY=<one of the keys in FABRIC_API_KEYS>'] : []),
    `  ${example}`,
    '',
  ].join('\n') + '\n',
);

process.on('exit', () => ensured.child?.kill('SIGTERM'));

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'Shutting down: draining the worker');
    void (async () => {
      for (const step of [() => api.close(), () => worker.close(), () => scheduler.close()]) {
        try {
          await step();
        } catch (err) {
          log.warn({ err }, 'Shutdown step failed');
        }
      }
      conns.disconnect();
      ensured.child?.kill('SIGTERM');
      process.exit(0);
    })();
  });
}
