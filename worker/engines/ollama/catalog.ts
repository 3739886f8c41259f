/** The models on the Ollama server's disk: `/api/tags`, plus context lengths from `/api/show`. */
import type { Logger } from '../../../protocol/logger.ts';
import { canonicalModelName } from '../../../protocol/model-names.ts';
import type { ModelDescriptor } from '../port/engine.ts';
import type { OllamaClient } from './client.ts';
import type { OllamaShowResponse, OllamaTag } from './wire.ts';

/** The fabric's name for an Ollama name (`llama3` -> `llama3:latest`); odd names pass as they are. */
export function canonicalOrRaw(name: string): string {
  try {
    return canonicalModelName(name);
  } catch {
    return name;
  }
}

/** What /api/show's model_info says about a model's shape (for the KV cache estimate). */
export interface ModelShape {
  contextLength?: number;
  layers?: number;
  /** KV heads x head dimension. */
  kvWidth?: number;
}

/** Reads `<arch>.*` keys of model_info; missing keys stay undefined. */
export function shapeFromModelInfo(info: Record<string, unknown>): ModelShape {
  const arch = String(info['general.architecture'] ?? '');
  const num = (key: string) => {
    const v = info[`${arch}.${key}`];
    return typeof v === 'number' ? v : undefined;
  };
  const heads = num('attention.head_count');
  const kvHeads = num('attention.head_count_kv') ?? heads;
  const headDim = num('attention.key_length') ?? (heads && num('embedding_length') ? Math.floor(num('embedding_length')! / heads) : undefined);
  return { contextLength: num('context_length'), layers: num('block_count'), kvWidth: kvHeads !== undefined && headDim !== undefined ? kvHeads * headDim : undefined };
}

export class OllamaCatalog {
  /** Shape per digest: /api/show is asked once per model version. */
  private readonly shapes = new Map<string, ModelShape>();

  private readonly client: OllamaClient;
  private readonly log: Logger;
  private readonly withContextLength: boolean;
  constructor(
    client: OllamaClient,
    log: Logger,
    withContextLength: boolean,
  ) {
    this.client = client;
    this.log = log;
    this.withContextLength = withContextLength;
  }

  async list(): Promise<ModelDescriptor[]> {
    const tags = await this.client.json<{ models?: OllamaTag[] }>('GET', '/api/tags');
    const models = (tags.models ?? []).map((t): ModelDescriptor => ({
      name: canonicalOrRaw(t.name),
      sizeBytes: t.size,
      family: t.details?.family || undefined,
      parameterSize: t.details?.parameter_size || undefined,
      quantization: t.details?.quantization_level || undefined,
      digest: t.digest || undefined,
      modifiedAt: t.modified_at || undefined,
    }));
    if (this.withContextLength) {
      await Promise.all(models.map(async (m) => {
        const ctx = await this.contextLength(m.name, m.digest);
        if (ctx !== undefined) m.contextLength = ctx;
      }));
    }
    return models;
  }

  /** `<arch>.context_length` from /api/show model_info; undefined when Ollama cannot say. */
  private async contextLength(name: string, digest: string | undefined): Promise<number | undefined> {
    return (await this.shape(name, digest))?.contextLength;
  }

  /** The model's shape from /api/show, cached per digest; undefined when Ollama cannot say. */
  async shape(name: string, digest: string | undefined): Promise<ModelShape | undefined> {
    const key = digest ?? name;
    const cached = this.shapes.get(key);
    if (cached) return cached;
    try {
      const show = await this.client.json<OllamaShowResponse>('POST', '/api/show', { model: name });
      const shape = shapeFromModelInfo(show.model_info ?? {});
      this.shapes.set(key, shape);
      return shape;
    } catch (err) {
      this.log.debug({ model: name, err: String(err) }, 'No model shape from /api/show');
      return undefined; // not cached: a later read may succeed
    }
  }
}
