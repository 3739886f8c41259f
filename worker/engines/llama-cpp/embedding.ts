/**
 * Embeddings on a loaded model: one embedding context per model, made on the first request (so
 * chat-only models never pay for it) and kept; each input must fit the model's context, and each
 * vector comes back at unit length, as Ollama's /api/embed returns them.
 */
import type { LlamaContext, LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp';
import { EngineError } from '../../../protocol/errors.ts';
import type { EmbedRequest, EmbedResult } from '../port/engine.ts';

/** The parts of a loaded model embeddings use; `embedding` is filled on first use. */
export interface EmbeddingHost {
  model: LlamaModel;
  context: LlamaContext;
  embedding?: Promise<LlamaEmbeddingContext> | undefined;
}

export async function embedTexts(entry: EmbeddingHost, req: EmbedRequest, threads: number): Promise<EmbedResult> {
  entry.embedding ??= entry.model.createEmbeddingContext({ contextSize: entry.context.contextSize, threads }).catch((err: unknown) => {
    entry.embedding = undefined; // let the next call try again rather than cache the failure
    throw err;
  });
  const context = await entry.embedding;
  const embeddings: number[][] = [];
  let promptTokens = 0;
  for (const text of req.input) {
    if (req.signal.aborted) throw new EngineError('aborted', 'embedding aborted');
    const length = context.calculateInputLength(text);
    if (length > entry.context.contextSize) {
      throw new EngineError('invalid_request', `input of ${length} tokens does not fit the context of ${entry.context.contextSize}`);
    }
    promptTokens += length;
    embeddings.push(normalize((await context.getEmbeddingFor(text)).vector));
  }
  return { embeddings, promptTokens };
}

/** Unit length; a zero vector stays zero. */
function normalize(vector: readonly number[]): number[] {
  const norm = Math.sqrt(vector.reduce((s, v) => s + v * v, 0));
  return norm === 0 ? [...vector] : vector.map((v) => v / norm);
}
