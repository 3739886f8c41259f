/** The models on the Ollama server's disk: `/api/tags`, plus context lengths from `/api/show`. */
import type { Logger } from '../../../protocol/logger.js';
import { canonicalModelName } from '../../../protocol/model-names.js';
import type { ModelDescriptor } from '../engine.js';
import type { OllamaClient } from './client.js';
import type { OllamaShowResponse, OllamaTag } from './wire.js';

/** The fabric's name for an Ollama name (`llama3` -> `llama3:latest`); odd names pass as they are. */
export function canonicalOrRaw(name: string): string {
  try {
    return canonicalModelName(name);
  } catch {
    return name;
  }
}

export class OllamaCatalog {
  /** Context length per digest: /api/show is asked once per model version. */
  private readonly contextLengths = new Map<string, number | undefined>();

  constructor(
    private readonly client: OllamaClient,
    private readonly log: Logger,
    private readonly withContextLength: boolean,
  ) {}

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
    const key = digest ?? name;
    if (this.contextLengths.has(key)) return this.contextLengths.get(key);
    let ctx: number | undefined;
    try {
      const show = await this.client.json<OllamaShowResponse>('POST', '/api/show', { model: name });
      const info = show.model_info ?? {};
      const value = info[`${String(info['general.architecture'])}.context_length`];
      ctx = typeof value === 'number' ? value : undefined;
    } catch (err) {
      this.log.debug({ model: name, err: String(err) }, 'No context length from /api/show');
      return undefined; // not cached: a later catalog read may succeed
    }
    this.contextLengths.set(key, ctx);
    return ctx;
  }
}
