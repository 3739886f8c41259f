/**
 * Coalesces the socket writes of one Redis connection made within one turn of the event loop
 * into one system call: the first write of a turn corks the socket, and it is uncorked once
 * the turn's callbacks (and the promise continuations they start) have run. Unlike ioredis'
 * auto-pipelining, commands are not held back until an earlier batch has answered, so a
 * request's round trip does not wait behind others'; under load, the replies to several
 * requests arrive together and the commands their handlers send next go out in one write.
 */
import type { Redis } from 'ioredis';
import type { Socket } from 'node:net';

export function coalesceWrites(redis: Redis): void {
  const patch = () => {
    const stream = (redis as unknown as { stream?: Socket }).stream;
    if (!stream || (stream as { fabricCoalesced?: boolean }).fabricCoalesced) return;
    (stream as { fabricCoalesced?: boolean }).fabricCoalesced = true;
    const write = stream.write.bind(stream) as (...a: unknown[]) => boolean;
    let corked = false;
    stream.write = ((...args: unknown[]) => {
      if (!corked) {
        corked = true;
        stream.cork();
        setImmediate(() => {
          corked = false;
          stream.uncork();
        });
      }
      return write(...args);
    }) as Socket['write'];
  };
  patch();
  redis.on('connect', patch);
}
