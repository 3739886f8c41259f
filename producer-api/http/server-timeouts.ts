/**
 * Timeouts of the API's HTTP server. Node closes an idle keep-alive socket after 5 s by default,
 * shorter than the idle timeouts of the proxies and load balancers in front of an API (60 s is
 * common) and close to what HTTP clients keep sockets for. Whichever side closes an idle socket
 * while the other reuses it makes that request fail with ECONNRESET (seen here from fetch under
 * load, when the server's 5 s timer fired while a client's request was on its way). So the
 * server keeps idle sockets longer than those peers and is never the first to close them, and
 * waits for request headers a little longer still, as Node requires.
 */
import type { Server } from 'node:http';

export const SERVER_TIMEOUTS = { keepAliveTimeoutMs: 65_000, headersTimeoutMs: 66_000 } as const;

export function applyServerTimeouts<S extends Server>(server: S): S {
  server.keepAliveTimeout = SERVER_TIMEOUTS.keepAliveTimeoutMs;
  server.headersTimeout = SERVER_TIMEOUTS.headersTimeoutMs;
  return server;
}

/**
 * Stops accepting connections and resolves once every socket is closed. Requests in flight are
 * answered; a keep-alive socket is closed as soon as it is idle (not after the keep-alive
 * timeout); whatever is still open after `graceMs` is closed by force.
 */
export function closeServer(server: Server, graceMs = 2_000): Promise<void> {
  return new Promise((resolve) => {
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    idle.unref();
    force.unref();
    server.close(() => {
      clearInterval(idle);
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
