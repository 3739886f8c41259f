/** The one writer of a worker's control stream (protocol/control.ts holds the commands and their reader). */
import type { ChainableCommander } from 'ioredis';
import type { Keys } from '../protocol/keys.ts';
import { CONTROL_STREAM_MAX_LEN, type ControlCommand } from '../protocol/control.ts';

/** Appends `cmd` to `workerId`'s control stream in pipeline `p` (in order with what else `p` writes). */
export function sendControl(
  p: ChainableCommander,
  keys: Keys,
  workerId: string,
  cmd: ControlCommand,
  maxLen = CONTROL_STREAM_MAX_LEN,
): ChainableCommander {
  return p.xadd(keys.workerControl(workerId), 'MAXLEN', '~', maxLen, '*', 'command', JSON.stringify(cmd));
}
