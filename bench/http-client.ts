/** A keep-alive HTTP client (undici Pool) for posting the same JSON body many times. */
import { Pool } from 'undici';

export interface PostResult {
  status: number;
  body: string;
}

export class JsonClient {
  private readonly pool: Pool;

  constructor(url: string, connections: number) {
    this.pool = new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
  }

  async post(path: string, json: string): Promise<PostResult> {
    const res = await this.pool.request({ method: 'POST', path, body: json, headers: { 'content-type': 'application/json' } });
    return { status: res.statusCode, body: await res.body.text() };
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
