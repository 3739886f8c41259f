/**
 * A deterministic engine for tests and benchmarks: configurable load time, model sizes,
 * token rate and failures. It is a test double and never the default engine.
 *
 * Failures are asked for in the prompt (or last message): `FAIL:<code>` throws an
 * `EngineError` with that code, e.g. `FAIL:out_of_memory` (retryable) or `FAIL:engine_error`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError, type EngineErrorCode } from '../../protocol/errors.ts';
import type {
  EmbedRequest,
  EmbedResult,
  Engine,
  EngineCapacity,
  FootprintEstimate,
  GenerateRequest,
  GenerateResult,
  LoadResult,
  ModelDescriptor,
  ResidentModel,
} from './port/engine.ts';

export interface FakeEngineOptions {
  models: { name: string; sizeBytes: number }[];
  loadMs: number;
  /** Tokens per second; 0 produces all tokens at once with no delay. */
  tokensPerSecond: number;
  slotsPerModel: number;
  memoryBytes: number;
  defaultNumPredict: number;
  embeddingLength: number;
}

export const FAKE_ENGINE_DEFAULTS: FakeEngineOptions = {
  models: [
    { name: 'fake-small:latest', sizeBytes: 1_000_000_000 },
    { name: 'fake-large:latest', sizeBytes: 4_000_000_000 },
  ],
  loadMs: 50,
  tokensPerSecond: 200,
  slotsPerModel: 4,
  memoryBytes: 8_000_000_000,
  defaultNumPredict: 16,
  embeddingLength: 8,
};

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'echo', 'fox', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];

/** FNV-1a, for seeding from text. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function* wordStream(seed: number): Generator<string> {
  let s = seed || 1;
  for (;;) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    yield WORDS[s % WORDS.length]!;
  }
}

export class FakeEngine implements Engine {
  readonly kind = 'fake';
  private readonly opts: FakeEngineOptions;
  private readonly loaded = new Map<string, { sizeBytes: number; busy: number }>();

  constructor(opts: Partial<FakeEngineOptions> = {}) {
    this.opts = { ...FAKE_ENGINE_DEFAULTS, ...opts };
  }

  async catalog(): Promise<ModelDescriptor[]> {
    return this.opts.models.map((m) => ({ name: m.name, sizeBytes: m.sizeBytes, family: 'fake', quantization: 'F16' }));
  }

  async load(model: string): Promise<LoadResult> {
    const desc = this.opts.models.find((m) => m.name === model);
    if (!desc) throw new EngineError('model_not_found', `model ${model} not found`);
    const started = Date.now();
    if (!this.loaded.has(model)) {
      if (this.opts.loadMs > 0) await sleep(this.opts.loadMs);
      this.loaded.set(model, { sizeBytes: desc.sizeBytes, busy: 0 });
    }
    return { sizeBytes: desc.sizeBytes, sizeVramBytes: 0, loadMs: Date.now() - started };
  }

  async unload(model: string): Promise<void> {
    this.loaded.delete(model);
  }

  async resident(): Promise<ResidentModel[]> {
    return [...this.loaded].map(([name, m]) => ({ name, sizeBytes: m.sizeBytes, sizeVramBytes: 0 }));
  }

  async generate(req: GenerateRequest): Promise<GenerateResult> {
    const slot = this.loaded.get(req.model);
    if (!slot) throw new EngineError('model_not_found', `model ${req.model} is not loaded`);
    const promptText = req.task === 'chat' ? (req.messages ?? []).map((m) => m.content).join('\n') : (req.prompt ?? '');
    const fail = /FAIL:([a-z_]+)/.exec(promptText);
    if (fail) throw new EngineError(fail[1] as EngineErrorCode, `requested failure ${fail[1]}`);
    if (slot.busy >= this.opts.slotsPerModel) throw new EngineError('engine_busy', `all ${this.opts.slotsPerModel} slots busy`);
    slot.busy++;
    try {
      return await this.produce(req, promptText);
    } finally {
      slot.busy--;
    }
  }

  private async produce(req: GenerateRequest, promptText: string): Promise<GenerateResult> {
    const started = Date.now();
    const numPredict = req.options.num_predict ?? this.opts.defaultNumPredict;
    const limit = numPredict < 0 ? this.opts.defaultNumPredict * 4 : numPredict;
    const stops = req.options.stop === undefined ? [] : ([] as string[]).concat(req.options.stop);
    const words = wordStream(hash(`${req.options.seed ?? 0}|${promptText}`));
    const delayMs = this.opts.tokensPerSecond > 0 ? 1000 / this.opts.tokensPerSecond : 0;
    let text = '';
    let count = 0;
    let doneReason: 'stop' | 'length' = 'length';
    let stopSequence: string | undefined;
    while (count < limit) {
      if (req.signal.aborted) throw new EngineError('aborted', 'generation aborted');
      if (delayMs > 0) await sleep(delayMs, undefined, { signal: req.signal }).catch(() => undefined);
      if (req.signal.aborted) throw new EngineError('aborted', 'generation aborted');
      const piece = (count === 0 ? '' : ' ') + words.next().value;
      const candidate = text + piece;
      const hit = stops.map((s) => candidate.indexOf(s)).filter((i) => i >= 0);
      if (hit.length > 0) {
        const at = Math.min(...hit);
        stopSequence = stops.find((s) => candidate.indexOf(s) === at);
        const cut = candidate.slice(0, at);
        if (cut.length > text.length) req.onToken(cut.slice(text.length));
        text = cut;
        count++;
        doneReason = 'stop';
        break;
      }
      req.onToken(piece);
      text = candidate;
      count++;
    }
    return {
      text,
      doneReason,
      ...(stopSequence !== undefined ? { stopSequence } : {}),
      promptTokens: promptText.split(/\s+/).filter(Boolean).length,
      completionTokens: count,
      promptEvalMs: 0,
      evalMs: Date.now() - started,
    };
  }

  async embed(req: EmbedRequest): Promise<EmbedResult> {
    if (!this.loaded.has(req.model)) throw new EngineError('model_not_found', `model ${req.model} is not loaded`);
    const embeddings = req.input.map((text) => {
      const words = wordStream(hash(text));
      return Array.from({ length: this.opts.embeddingLength }, () => (hash(words.next().value as string) % 2000) / 1000 - 1);
    });
    return { embeddings, promptTokens: req.input.join(' ').split(/\s+/).filter(Boolean).length };
  }

  async estimateFootprint(model: string): Promise<FootprintEstimate | undefined> {
    const desc = this.opts.models.find((m) => m.name === model);
    return desc ? { weightsBytes: desc.sizeBytes, kvCacheBytes: 0, overheadBytes: 0, totalBytes: desc.sizeBytes } : undefined;
  }

  async capacity(): Promise<EngineCapacity> {
    return { slotsPerModel: this.opts.slotsPerModel, memoryBytes: this.opts.memoryBytes, gpus: [] };
  }

  async close(): Promise<void> {
    this.loaded.clear();
  }
}
