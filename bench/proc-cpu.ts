/** CPU time of another process (redis-server, the split worker), read from Linux /proc. */
import { readFileSync } from 'node:fs';

/** User+system CPU seconds process `pid` has used so far, all its threads (0 off Linux or once it is gone). */
export function procCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // Fields 14 and 15 of /proc/<pid>/stat: utime and stime in clock ticks (100 Hz on Linux).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}
