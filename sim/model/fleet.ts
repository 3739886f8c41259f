/**
 * A simulated fleet: worker classes (pools), each with a count, GPUs per worker and memory per
 * GPU. `--fleet 2x24GiB,1-4x80GiB,1x2x80GiB` reads as two fixed 24 GiB workers, an 80 GiB pool
 * autoscaled between 1 and 4 workers, and one worker with two 80 GiB GPUs. A worker with several
 * GPUs holds a model larger than one of them split across them (as Ollama and llama.cpp split
 * layers), so its capacity for placement is the sum; each GPU is still accounted on its own.
 */
import { parseBytes } from './trace.ts';

export interface WorkerClass {
  /** Pool name, `[<gpus>x]<size>` in lower case (one autoscaled Deployment per pool in k8s/). */
  readonly pool: string;
  /** Workers at the start; a scale-down never goes below `min`. */
  readonly count: number;
  readonly min: number;
  readonly max: number;
  readonly gpusPerWorker: number;
  readonly gpuMemBytes: number;
}

/** Capacity of one worker of the class: its GPUs' memory together. */
export function workerBytes(c: Pick<WorkerClass, 'gpusPerWorker' | 'gpuMemBytes'>): number {
  return c.gpusPerWorker * c.gpuMemBytes;
}

/**
 * The single class the older flags describe (`--gpus N --gpu-mem X --max-gpus M`): one GPU per
 * worker, starting at N; a fixed pool when M = N, else autoscaled between 1 and M.
 */
export function uniformFleet(gpus: number, gpuMemBytes: number, maxGpus: number): WorkerClass[] {
  const max = Math.max(gpus, maxGpus);
  return [{ pool: 'default', count: gpus, min: max === gpus ? gpus : 1, max, gpusPerWorker: 1, gpuMemBytes }];
}

/** Parses `COUNT[-MAX]x[GPUSx]SIZE[,...]`; throws with a readable message. */
export function parseFleet(text: string): WorkerClass[] {
  const out: WorkerClass[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?x(?:(\d+)x)?(.+)$/i.exec(part);
    if (!m) throw new Error(`fleet entry "${part}" must read COUNTxSIZE, MIN-MAXxSIZE or COUNTxGPUSxSIZE (e.g. 2x24GiB, 1-4x80GiB, 1x2x80GiB)`);
    const count = Number(m[1]);
    const max = m[2] === undefined ? count : Number(m[2]);
    const gpusPerWorker = m[3] === undefined ? 1 : Number(m[3]);
    const gpuMemBytes = parseBytes(m[4]!);
    if (max < count || max < 1) throw new Error(`fleet entry "${part}": the maximum must be >= the count and >= 1`);
    if (gpusPerWorker < 1) throw new Error(`fleet entry "${part}": a worker needs at least one GPU`);
    if (gpuMemBytes <= 0) throw new Error(`fleet entry "${part}": GPU memory must be > 0`);
    const pool = `${gpusPerWorker > 1 ? `${gpusPerWorker}x` : ''}${m[4]!.trim()}`.toLowerCase();
    if (out.some((c) => c.pool === pool)) throw new Error(`fleet names the class ${pool} twice`);
    out.push({ pool, count, min: count, max, gpusPerWorker, gpuMemBytes });
  }
  if (out.length === 0) throw new Error('fleet is empty');
  return out;
}

/** `2x24GiB + 1-4x80GiB`: the fleet as the report prints it. */
export function describeFleet(fleet: readonly WorkerClass[]): string {
  return fleet.map((c) => `${c.count === c.max && c.count === c.min ? c.count : `${c.count} (${c.min}-${c.max})`} x ${c.gpusPerWorker > 1 ? `${c.gpusPerWorker} x ` : ''}${(c.gpuMemBytes / 2 ** 30).toFixed(0)} GiB`).join(' + ');
}
