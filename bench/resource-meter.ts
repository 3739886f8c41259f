/**
 * What a phase cost: CPU seconds of this Node process, of the worker process where the worker
 * runs in one of its own (topology `split`), and of redis-server, this process's event-loop
 * utilization, and Redis commands per job (INFO commandstats; commands run inside
 * Lua scripts are counted too, under their own names, besides the EVALSHA that ran them).
 */
import { performance } from 'node:perf_hooks';
import type { PrivateRedis } from './private-redis.ts';

export interface ResourceUsage {
  wallSeconds: number;
  /** All the phase's Node processes: this one plus the worker process (`split`). */
  nodeCpuSeconds: number;
  /** This process, all its threads (the API, the HTTP client thread, the shared worker or the baselines). */
  benchProcessCpuSeconds: number;
  /** The separate worker process (`split`); 0 when there is none. */
  workerProcessCpuSeconds: number;
  redisCpuSeconds: number;
  /** Share of wall time this process's event loop was busy (0..1). */
  eventLoopUtilization: number;
  /** Redis commands per job, by command, highest first. */
  commandsPerJob: Record<string, number>;
  totalCommandsPerJob: number;
}

export interface ResourceMeter {
  /** Deltas since the meter started, commands divided by `jobs`. */
  stop(jobs: number): Promise<ResourceUsage>;
}

/** Commands the meter itself (and the bench's own FLUSHALL) issues; left out of the counts. */
const OWN_COMMANDS = new Set(['info', 'flushall']);

/** `workerCpuSeconds`: the CPU-seconds reading of a separate worker process, if there is one. */
export async function startMeter(redis: PrivateRedis, workerCpuSeconds: () => number = () => 0): Promise<ResourceMeter> {
  const commands0 = await redis.commandCounts();
  const redisCpu0 = redis.cpuSeconds();
  const workerCpu0 = workerCpuSeconds();
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  return {
    async stop(jobs) {
      const wallSeconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const elu = performance.eventLoopUtilization(elu0);
      const redisCpuSeconds = redis.cpuSeconds() - redisCpu0;
      const workerProcessCpuSeconds = workerCpuSeconds() - workerCpu0;
      const benchProcessCpuSeconds = (cpu.user + cpu.system) / 1e6;
      const commands1 = await redis.commandCounts();
      const perJob: [string, number][] = [];
      for (const [cmd, calls] of commands1) {
        if (OWN_COMMANDS.has(cmd)) continue;
        const delta = calls - (commands0.get(cmd) ?? 0);
        if (delta > 0) perJob.push([cmd, delta / Math.max(1, jobs)]);
      }
      perJob.sort((a, b) => b[1] - a[1]);
      return {
        wallSeconds,
        nodeCpuSeconds: benchProcessCpuSeconds + workerProcessCpuSeconds,
        benchProcessCpuSeconds,
        workerProcessCpuSeconds,
        redisCpuSeconds,
        eventLoopUtilization: elu.utilization,
        commandsPerJob: Object.fromEntries(perJob.map(([k, v]) => [k, Math.round(v * 100) / 100])),
        totalCommandsPerJob: Math.round(perJob.reduce((s, [, v]) => s + v, 0) * 100) / 100,
      };
    },
  };
}
