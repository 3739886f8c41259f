/**
 * The standalone scheduler's HTTP surface: `/healthz` (liveness, with lease state),
 * `/metrics` (the shared registry) and `/v1/scale` (the metric actuator's JSON for KEDA's
 * metrics-api scaler). Built apart from `listen()` so tests call the handler in-process.
 */
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { registry } from '../protocol/metrics.ts';
import type { DesiredScale } from './actuators/metric.ts';

export interface SchedulerHttpDeps {
  scheduler: { isLeader(): boolean; readonly lifecycle: string };
  /** Present only with the metric actuator. */
  desiredScale?: () => DesiredScale | null;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

const error = (res: ServerResponse, status: number, code: string, message: string, headers?: Record<string, string>) =>
  json(res, status, { error: { code, message } }, headers);

/** The request handler; every route is GET (HEAD too) only. */
export function schedulerHttpHandler(deps: SchedulerHttpDeps): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return error(res, 405, 'method_not_allowed', `${req.method} is not allowed`, { allow: 'GET, HEAD' });
    switch (path) {
      case '/healthz': {
        const ok = deps.scheduler.lifecycle === 'running';
        return json(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable', lifecycle: deps.scheduler.lifecycle, leader: deps.scheduler.isLeader() });
      }
      case '/metrics':
        registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': registry.contentType });
            res.end(text);
          },
          (err: unknown) => error(res, 500, 'internal', err instanceof Error ? err.message : String(err)),
        );
        return;
      case '/v1/scale':
        return scale(res, deps);
      default:
        return error(res, 404, 'not_found', `no route ${path}`);
    }
  };
}

/**
 * Only the leader's count is current: a standby answers 503, which KEDA treats as a failed
 * poll (fallback replicas if configured, else the size is kept), never as a wish to shrink.
 */
function scale(res: ServerResponse, deps: SchedulerHttpDeps): void {
  if (!deps.desiredScale) return error(res, 404, 'not_found', 'the metric scale actuator is not enabled (FABRIC_SCALE_ACTUATOR=metric)');
  if (!deps.scheduler.isLeader()) return error(res, 503, 'not_leader', 'this scheduler is a standby; ask the leader', { 'retry-after': '1' });
  const current = deps.desiredScale();
  if (!current) return error(res, 503, 'no_decision', 'no scale decision yet', { 'retry-after': '5' });
  json(res, 200, current);
}

export interface SchedulerHttpServer {
  url: string;
  close(): Promise<void>;
}

/** Listens on `port` (0: any free port) and `host`. */
export async function listenSchedulerHttp(port: number, host: string, deps: SchedulerHttpDeps): Promise<SchedulerHttpServer> {
  const server = createServer(schedulerHttpHandler(deps));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
