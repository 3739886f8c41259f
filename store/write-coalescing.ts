/**
 * Coalesces the socket writes of one Redis connection made within one turn of the event loop
 * into one system call: the first write of a turn corks the socket, and it is uncorked once
 * the turn's callbacks (and the promise continuations they start) have run. Unlike ioredis'
 * auto-pipelining, commands are not held back until an earlier batch has answered, so a
 * request's round trip does not wait behind others'; under load, the replies to several
 * requests arrive together and the commands their handlers send next go out in one write.
 * On a Redis Cluster each node's connection is coalesced on its own.
 */
import type { Socket } from 'node:net';
import type { Redis } from 'ioredis';
import { isCluster, type RedisClient } from './redis-client.ts';

type CoalescedSocket = Socket & { fabricCoalesced?: boolean };

function coalesceStream(stream: CoalescedSocket): void {
  if (stream.fabricCoalesced) return;
  stream.fabricCoalesced = true;
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
}

export function coalesceWrites(client: RedisClient): void {
  if (isCluster(client)) {
    client.on('+node', (node: Redis) => coalesceWrites(node));
    return;
  }
  const patch = () => {
    const stream = (client as unknown as { stream?: CoalescedSocket }).stream;
    if (stream) coalesceStream(stream);
  };
  patch();
  client.on('connect', patch);
}
