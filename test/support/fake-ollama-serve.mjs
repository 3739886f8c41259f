#!/usr/bin/env node
// A stand-in for the `ollama` binary in tests: `serve` listens on OLLAMA_HOST and answers
// GET /api/version as Ollama does; SIGTERM closes it. Anything else exits 2.
import { createServer } from 'node:http';

if (process.argv[2] !== 'serve') process.exit(2);
const [host, port] = (process.env.OLLAMA_HOST ?? '127.0.0.1:11434').split(':');
const server = createServer((req, res) => {
  if (req.url === '/api/version') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ version: '0.0.0-fake' }));
    return;
  }
  res.writeHead(404).end();
});
server.listen(Number(port), host);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
