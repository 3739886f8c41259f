/**
 * A worker's control stream: load/unload commands from the scheduler or an operator, read
 * from the worker's own Redis stream and handled one at a time, in order (an eviction's
 * unload must free memory before the load that follows it starts). Each entry is deleted
 * once handled, so a restarted worker with the same id picks up what it had not done.
 */
import type { RedisClient } from '../store/redis-client.ts';
import type { Logger } from '../protocol/logger.ts';
import { parseControlCommand, type ControlCommand } from '../protocol/control.ts';

export class ControlStream {
  private readonly conn: RedisClient;
  private readonly key: string;
  private readonly log: Logger;
  private readonly handle: (cmd: ControlCommand) => Promise<void>;
  constructor(
    /** A dedicated connection: the reads block. */
    conn: RedisClient,
    key: string,
    log: Logger,
    handle: (cmd: ControlCommand) => Promise<void>,
  ) {
    this.conn = conn;
    this.key = key;
    this.log = log;
    this.handle = handle;
  }

  /** Reads and handles commands while `active()` holds. */
  async run(active: () => boolean): Promise<void> {
    let lastId = '0';
    while (active()) {
      let rows: [string, [string, string[]][]][] | null;
      try {
        rows = (await this.conn.xread('COUNT', 16, 'BLOCK', 1000, 'STREAMS', this.key, lastId)) as typeof rows;
      } catch (err) {
        if (!active()) return;
        this.log.warn({ err }, 'Control stream read failed');
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      for (const [, entries] of rows ?? []) {
        for (const [entryId, kv] of entries) {
          lastId = entryId;
          await this.dispatch(kv);
          await this.conn.xdel(this.key, entryId).catch(() => undefined);
        }
      }
    }
  }

  private async dispatch(fields: string[]): Promise<void> {
    const cmd = parseControlCommand(fields);
    if (!cmd) {
      this.log.warn({ fields }, 'Ignoring malformed control command');
      return;
    }
    this.log.info({ command: cmd }, 'Control command received');
    try {
      await this.handle(cmd);
    } catch (err) {
      this.log.error({ command: cmd, err }, 'Control command failed');
    }
  }

  disconnect(): void {
    this.conn.disconnect();
  }
}
