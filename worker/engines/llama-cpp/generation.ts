/**
 * One generation on one context sequence: evaluate the prompt, sample up to `maxTokens`
 * tokens, stream text, stop on an end-of-generation token or a stop sequence. A hand-written
 * loop over `sequence.evaluate()` rather than `LlamaCompletion`, because the fabric needs
 * exact token counts, Ollama's stop semantics (the stop text is cut and never streamed)
 * and every streamed character to end up in the result, also when the limit is reached.
 */
import { LlamaGrammarEvaluationState, type LlamaContextSequence, type LlamaGrammar, type LlamaModel, type Token } from 'node-llama-cpp';
import { EngineError } from '../../../protocol/errors.ts';
import type { TokenLogprob } from '../../../protocol/job.ts';
import type { GenerateResult } from '../port/engine.ts';

export interface SamplingParams {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  seed?: number;
  /** 1 disables the penalty. */
  repeatPenalty: number;
  /** Recent tokens the penalty looks at; 0 disables it. */
  repeatLastN: number;
}

export interface GenerationParams extends SamplingParams {
  maxTokens: number;
  stops: readonly string[];
  signal: AbortSignal;
  onToken: (text: string) => void;
  /** Constrains sampling (JSON mode); it ends the generation with an EOG token when complete. */
  grammar?: LlamaGrammar;
  /** Log probability of each generated token, with the `top` likeliest alternatives (0: none). */
  logprobs?: { top: number };
}

/**
 * Holds back text that could still become a stop sequence and cuts the output at the first
 * complete one. Invariant: text already released never contains the start of a stop match.
 */
export class StopSequenceBuffer {
  private text = '';
  private released = 0;
  private stopped = false;
  /** The stop sequence that cut the text, once one did. */
  hit: string | undefined;

  private readonly stops: readonly string[];
  constructor(stops: readonly string[]) {
    this.stops = stops;
  }

  /** Adds generated text; returns what may be streamed now and whether a stop sequence hit. */
  push(piece: string): { release: string; stopped: boolean } {
    if (this.stopped) return { release: '', stopped: true };
    this.text += piece;
    let cut = -1;
    for (const stop of this.stops) {
      const at = this.text.indexOf(stop, this.released);
      if (stop.length > 0 && at >= 0 && (cut < 0 || at < cut)) {
        cut = at;
        this.hit = stop;
      }
    }
    if (cut >= 0) {
      this.stopped = true;
      this.text = this.text.slice(0, cut);
      return { release: this.take(this.text.length), stopped: true };
    }
    return { release: this.take(this.text.length - this.heldBack()), stopped: false };
  }

  /** Releases whatever is held back (the generation ended without a stop sequence). */
  flush(): string {
    return this.take(this.text.length);
  }

  get output(): string {
    return this.text;
  }

  /** Length of the longest suffix of the text that is a proper prefix of some stop sequence. */
  private heldBack(): number {
    let hold = 0;
    for (const stop of this.stops) {
      for (let k = Math.min(stop.length - 1, this.text.length); k > hold; k--) {
        if (this.text.endsWith(stop.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    return hold;
  }

  private take(upTo: number): string {
    const out = upTo > this.released ? this.text.slice(this.released, upTo) : '';
    this.released = Math.max(this.released, upTo);
    return out;
  }
}

function abortedError(signal: AbortSignal): EngineError {
  return new EngineError('aborted', 'generation aborted', { cause: signal.reason });
}

/** Most tokens a multi-byte character can be split into by byte-fallback tokens. */
const MAX_PARTIAL_TOKENS = 4;

/** Runs one generation on a fresh (empty) sequence. Throws `EngineError('aborted')` on abort. */
export async function runGeneration(
  sequence: LlamaContextSequence,
  promptTokens: Token[],
  params: GenerationParams,
): Promise<GenerateResult> {
  const model = sequence.model;
  const stops = new StopSequenceBuffer(params.stops);
  const generated: Token[] = [];
  const partial: Token[] = [];
  const started = performance.now();
  let firstTokenAt: number | undefined;
  let doneReason: GenerateResult['doneReason'] = 'length';
  const logprobs: TokenLogprob[] | null = params.logprobs ? [] : null;

  if (params.signal.aborted) throw abortedError(params.signal);
  if (params.maxTokens > 0) {
    const tokens = sequence.evaluateWithMetadata(promptTokens, metadataFor(params.logprobs), {
      temperature: params.temperature,
      topK: params.topK,
      topP: params.topP,
      minP: params.minP,
      ...(params.seed !== undefined ? { seed: params.seed } : {}),
      ...(params.grammar ? { grammarEvaluationState: new LlamaGrammarEvaluationState({ model, grammar: params.grammar }) } : {}),
      ...(params.repeatPenalty !== 1 && params.repeatLastN > 0
        ? { repeatPenalty: { punishTokens: () => generated.slice(-params.repeatLastN), penalty: params.repeatPenalty } }
        : {}),
      yieldEogToken: true,
    });
    // Leaving the loop (break or throw) calls tokens.return(), which ends the evaluation.
    for await (const next of tokens) {
      const token = next.token;
      if (params.signal.aborted) throw abortedError(params.signal);
      firstTokenAt ??= performance.now();
      if (model.isEogToken(token)) {
        doneReason = 'stop';
        break;
      }
      if (logprobs) logprobs.push(tokenLogprob(model, next, generated, params.logprobs!.top));
      generated.push(token);
      partial.push(token);
      const last = generated.length >= params.maxTokens;
      const previous = generated.slice(Math.max(0, generated.length - partial.length - 8), generated.length - partial.length);
      const piece = model.detokenize(partial, false, previous);
      // A character split over byte tokens decodes to U+FFFD until its last byte arrives.
      if (piece.endsWith('\uFFFD') && partial.length < MAX_PARTIAL_TOKENS && !last) continue;
      partial.length = 0;
      const { release, stopped } = stops.push(piece);
      if (release) params.onToken(release);
      if (stopped) {
        doneReason = 'stop';
        break;
      }
      if (last) break;
    }
  }
  const rest = stops.flush();
  if (rest) params.onToken(rest);
  const ended = performance.now();
  return {
    text: stops.output,
    doneReason,
    ...(stops.hit !== undefined ? { stopSequence: stops.hit } : {}),
    ...(logprobs ? { logprobs: withinText(logprobs, stops.output) } : {}),
    promptTokens: promptTokens.length,
    completionTokens: generated.length,
    promptEvalMs: Math.round((firstTokenAt ?? ended) - started),
    evalMs: Math.round(ended - (firstTokenAt ?? ended)),
  };
}

/** What to ask the sampler for: the chosen token's probability, or the whole candidate list. */
function metadataFor(logprobs: GenerationParams['logprobs']): { confidence?: true; probabilities?: true } {
  if (!logprobs) return {};
  return logprobs.top > 0 ? { probabilities: true } : { confidence: true };
}

/**
 * One token's entry. The probabilities are those llama.cpp sampled from: the candidates left
 * after the grammar, the repeat penalty and top-k / top-p / min-p, softmaxed at the temperature.
 */
function tokenLogprob(
  model: LlamaModel,
  next: { token: Token; confidence?: number; probabilities?: Map<Token, number> },
  before: readonly Token[],
  top: number,
): TokenLogprob {
  const previous = before.slice(-8);
  const text = (t: Token) => model.detokenize([t], false, previous);
  const p = next.confidence ?? next.probabilities?.get(next.token) ?? 0;
  const entry: TokenLogprob = { token: text(next.token), logprob: Math.log(p) };
  if (top > 0 && next.probabilities) {
    entry.top_logprobs = [...next.probabilities].slice(0, top).map(([t, q]) => ({ token: text(t), logprob: Math.log(q) }));
  }
  return entry;
}

/** The entries of the tokens that make up `text` (a stop sequence cut the rest from the output). */
function withinText(logprobs: TokenLogprob[], text: string): TokenLogprob[] {
  let length = 0;
  const kept: TokenLogprob[] = [];
  for (const lp of logprobs) {
    if (length >= text.length) break;
    kept.push(lp);
    length += lp.token.length;
  }
  return kept;
}
