/**
 * The embedded engine's catalog: the `.gguf` files in one folder, named by file name
 * (`demo-chat.gguf` -> `demo-chat:latest`, `name@tag.gguf` -> `name:tag`), described from
 * their GGUF headers. Headers are cached per (size, mtime) so listing stays cheap.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GgufFileType, readGgufFileInfo, type GgufFileInfo } from 'node-llama-cpp';
import { canonicalModelName, InvalidModelNameError } from '../../../protocol/model-names.ts';
import type { ModelDescriptor } from '../port/engine.ts';

/** A catalog entry plus what the engine needs to load it and estimate its memory. */
export interface GgufModelFile extends ModelDescriptor {
  path: string;
  layers: number;
  /** Key/value width per token and layer (kv heads x head dim), for the KV cache estimate. */
  kvWidth: number;
}

/** Canonical model name for a file name, or undefined when it is not a usable model name. */
export function modelNameForFile(fileName: string): string | undefined {
  if (!fileName.endsWith('.gguf')) return undefined;
  // `~` stands for `/` (`hf.co~org~repo@Q4_K_M.gguf`): names may have slashes, file names may not.
  const base = fileName.slice(0, -'.gguf'.length).replaceAll('~', '/');
  const at = base.lastIndexOf('@');
  const name = at > 0 ? `${base.slice(0, at)}:${base.slice(at + 1)}` : base;
  try {
    return canonicalModelName(name);
  } catch (err) {
    if (err instanceof InvalidModelNameError) return undefined;
    throw err;
  }
}

/** Ollama-style parameter count: `137.0M`, `8.0B`. */
export function formatParameterCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

/** `MOSTLY_Q4_K_M` -> `Q4_K_M`, `ALL_F32` -> `F32`, as Ollama names quantizations. */
function quantizationName(fileType: unknown): string | undefined {
  if (typeof fileType !== 'number') return undefined;
  const name = GgufFileType[fileType];
  return name?.replace(/^(ALL|MOSTLY)_/, '');
}

function parameterCount(info: GgufFileInfo): number | undefined {
  if (!info.fullTensorInfo) return undefined;
  let total = 0;
  for (const t of info.fullTensorInfo) total += t.dimensions.reduce<number>((a, d) => a * Number(d), 1);
  return total;
}

function describe(info: GgufFileInfo, name: string, path: string, sizeBytes: number, mtime: Date): GgufModelFile {
  const arch = info.architectureMetadata as {
    context_length?: number;
    block_count?: number;
    embedding_length?: number;
    attention?: { head_count?: number; head_count_kv?: number | number[]; key_length?: number };
  };
  const heads = arch.attention?.head_count ?? 1;
  const kvHeadsRaw = arch.attention?.head_count_kv ?? heads;
  const kvHeads = Array.isArray(kvHeadsRaw) ? Math.max(...kvHeadsRaw) : kvHeadsRaw;
  const headDim = arch.attention?.key_length ?? Math.floor((arch.embedding_length ?? 0) / Math.max(1, heads));
  const params = parameterCount(info);
  return {
    name,
    path,
    sizeBytes,
    family: info.metadata.general?.architecture,
    parameterSize: params === undefined ? undefined : formatParameterCount(params),
    quantization: quantizationName(info.metadata.general?.file_type),
    modifiedAt: mtime.toISOString(),
    contextLength: arch.context_length,
    layers: arch.block_count ?? 0,
    kvWidth: kvHeads * headDim,
  };
}

export class GgufCatalog {
  private readonly cache = new Map<string, { key: string; entry: GgufModelFile }>();

  private readonly dir: string;
  private readonly onSkip: (path: string, err: unknown) => void;
  constructor(
    dir: string,
    onSkip: (path: string, err: unknown) => void = () => undefined,
  ) {
    this.dir = dir;
    this.onSkip = onSkip;
  }

  /** Every readable model in the folder, sorted by name; a missing folder is an empty catalog. */
  async list(): Promise<GgufModelFile[]> {
    const names = await readdir(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    const out: GgufModelFile[] = [];
    for (const fileName of names.sort()) {
      const name = modelNameForFile(fileName);
      if (!name) continue;
      const entry = await this.describeFile(join(this.dir, fileName), name);
      if (entry) out.push(entry);
    }
    return out;
  }

  /** The entry for a canonical model name, or undefined. */
  async find(model: string): Promise<GgufModelFile | undefined> {
    return (await this.list()).find((m) => m.name === model);
  }

  private async describeFile(path: string, name: string): Promise<GgufModelFile | undefined> {
    try {
      const st = await stat(path);
      if (!st.isFile()) return undefined;
      const key = `${st.size}:${st.mtimeMs}`;
      const cached = this.cache.get(path);
      if (cached?.key === key) return cached.entry;
      const info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false });
      const entry = describe(info, name, path, st.size, st.mtime);
      this.cache.set(path, { key, entry });
      return entry;
    } catch (err) {
      this.onSkip(path, err);
      return undefined;
    }
  }
}
