/**
 * An HTTP proxy in front of the API that can swallow answers: the request reaches the API
 * and is processed, then the proxy cuts the client's connection instead of replying (what a
 * load balancer restart or a network blip does to a client).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Forwarded {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  status: number;
  body: string;
  upstreamHeaders: Headers;
  dropped: boolean;
}

export interface DroppingProxy {
  url: string;
  seen: Forwarded[];
  close(): Promise<void>;
}

/** `drop(req, n)` decides, per request (n counts from 1), whether its answer is swallowed. */
export async function droppingProxy(upstream: string, drop: (method: string, path: string, n: number) => boolean): Promise<DroppingProxy> {
  const seen: Forwarded[] = [];
  let n = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const method = req.method ?? 'GET';
      const path = req.url ?? '/';
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k))) as Record<string, string>;
      const up = await fetch(upstream + path, { method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
      const body = await up.text();
      const dropped = drop(method, path, ++n);
      seen.push({ method, path, headers: req.headers, status: up.status, body, upstreamHeaders: up.headers, dropped });
      if (dropped) {
        req.socket.destroy();
        return;
      }
      res.writeHead(up.status, Object.fromEntries([...up.headers].filter(([k]) => !['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(k))));
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
