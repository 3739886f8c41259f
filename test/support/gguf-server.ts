/**
 * A local file server for download tests: serves byte buffers by path with HTTP Range
 * (206 / 416), HEAD, a Hugging Face Hub-shaped tree listing (`/api/models/<org>/<repo>/tree/main`
 * with LFS sha256 object ids) and `/<org>/<repo>/resolve/main/<file>`. It can cut the
 * connection of a path's first answer part-way, and records every request.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServedRequest {
  method: string;
  path: string;
  range: string | undefined;
}

export interface GgufServer {
  url: string;
  requests: ServedRequest[];
  /** Serves `body` at `path` (a leading slash). */
  put(path: string, body: Buffer): void;
  /** Lists files under a Hub repository (`org/repo`), served at its resolve URLs. */
  putRepo(repo: string, files: Record<string, Buffer>): void;
  /** The next answer for `path` ends the connection after `bytes` body bytes. */
  cutAfter(path: string, bytes: number): void;
  /** Answers for `path` send `chunkBytes` every `everyMs` (a slow link). */
  throttle(path: string, chunkBytes: number, everyMs: number): void;
  stop(): Promise<void>;
}

export const sha256Of = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export async function startGgufServer(): Promise<GgufServer> {
  const files = new Map<string, Buffer>();
  const repos = new Map<string, Record<string, Buffer>>();
  const cuts = new Map<string, number>();
  const slow = new Map<string, { chunkBytes: number; everyMs: number }>();
  const requests: ServedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push({ method: req.method ?? 'GET', path, range: req.headers.range });
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/main$/.exec(path);
    if (tree) {
      const repo = repos.get(tree[1]!);
      if (!repo) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Repository not found"}');
      const list = Object.entries(repo).map(([p, b]) => ({ type: 'file', path: p, size: b.length, lfs: { oid: sha256Of(b), size: b.length, pointerSize: 130 } }));
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(list));
    }
    const body = files.get(path);
    if (!body) return void res.writeHead(404).end('not found');
    let start = 0;
    let status = 200;
    const headers: Record<string, string> = { 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= body.length) return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      status = 206;
      headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    headers['content-length'] = String(body.length - start);
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return void res.end();
    const cut = cuts.get(path);
    if (cut !== undefined) {
      cuts.delete(path);
      // Let the client read what was sent before the connection goes.
      res.write(body.subarray(start, start + cut), () => setTimeout(() => res.destroy(), 100));
      return;
    }
    const pace = slow.get(path);
    if (!pace) return void res.end(body.subarray(start));
    const send = (at: number) => {
      if (res.destroyed) return;
      if (at >= body.length) return void res.end();
      res.write(body.subarray(at, at + pace.chunkBytes));
      setTimeout(() => send(at + pace.chunkBytes), pace.everyMs);
    };
    send(start);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    put: (path, body) => void files.set(path, body),
    putRepo(repo, repoFiles) {
      repos.set(repo, repoFiles);
      for (const [p, b] of Object.entries(repoFiles)) files.set(`/${repo}/resolve/main/${p}`, b);
    },
    cutAfter: (path, bytes) => void cuts.set(path, bytes),
    throttle: (path, chunkBytes, everyMs) => void slow.set(path, { chunkBytes, everyMs }),
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
