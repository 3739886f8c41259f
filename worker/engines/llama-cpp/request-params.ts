/**
 * From a `GenerateRequest` to what llama.cpp evaluates: prompt tokens (plain text for
 * `generate`, the model's chat template for `chat`) and sampling parameters with Ollama's
 * defaults, so a request behaves the same here as against an Ollama server.
 */
import { isLlamaText, type ChatHistoryItem, type ChatWrapper, type Llama, type LlamaGrammar, type LlamaModel, type Token } from 'node-llama-cpp';
import { EngineError } from '../../../protocol/errors.ts';
import { compileJsonSchema, describeRefusal } from '../../../protocol/json-schema/index.ts';
import type { ChatMessage, GenerationOptions } from '../../../protocol/job.ts';
import type { GenerateRequest } from '../port/engine.ts';
import type { SamplingParams } from './generation.ts';

/** Ollama's sampling defaults, plus the fabric's default completion length. */
export const SAMPLING_DEFAULTS = {
  numPredict: 128,
  temperature: 0.8,
  topK: 40,
  topP: 0.9,
  minP: 0,
  repeatPenalty: 1.1,
  repeatLastN: 64,
} as const;

function chatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((m): ChatHistoryItem => {
    if (m.role === 'system') return { type: 'system', text: m.content };
    if (m.role === 'assistant') return { type: 'model', response: [m.content] };
    // Tool results go in as user turns: chat wrappers only model tool output for their own calls.
    return { type: 'user', text: m.content };
  });
  // An empty model turn at the end makes the wrapper render the generation prompt.
  history.push({ type: 'model', response: [] });
  return history;
}

/**
 * Prompt tokens for a request. `generate` is a raw completion of `system\n\nprompt` (with the
 * model's BOS token); `chat` renders the messages through the model's chat template.
 */
export function promptTokens(req: GenerateRequest, model: LlamaModel, chatWrapper: ChatWrapper): Token[] {
  if (req.task === 'chat') {
    if (!req.messages || req.messages.length === 0) throw new EngineError('invalid_request', 'chat needs at least one message');
    const state = chatWrapper.generateContextState({ chatHistory: chatHistory(req.messages) });
    return state.contextText.tokenize(model.tokenizer);
  }
  if (req.prompt === undefined) throw new EngineError('invalid_request', 'generate needs a prompt');
  const text = req.system ? `${req.system}\n\n${req.prompt}` : req.prompt;
  const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
  const tokens = [...(bos !== null ? [bos] : []), ...model.tokenize(text, false)];
  if (tokens.length === 0) throw new EngineError('invalid_request', 'prompt is empty and the model has no BOS token');
  return tokens;
}

/** Tokens to generate: `num_predict` (negative: until the context is full), capped by the room left. */
export function maxTokens(options: GenerationOptions, room: number): number {
  const n = options.num_predict ?? SAMPLING_DEFAULTS.numPredict;
  return n < 0 ? room : Math.min(n, room);
}

/**
 * Stop sequences from Ollama's `stop` (one string or a list), plus the plain-text stop triggers
 * of a grammar (the JSON grammar stops on a run of newlines); empty strings are ignored.
 */
export function stopSequences(options: GenerationOptions, grammar?: LlamaGrammar): string[] {
  const stop = options.stop;
  const list = stop === undefined ? [] : typeof stop === 'string' ? [stop] : [...stop];
  for (const trigger of grammar?.stopGenerationTriggers ?? []) {
    const parts: readonly unknown[] = typeof trigger === 'string' ? [trigger] : isLlamaText(trigger) ? trigger.values : trigger;
    if (parts.every((v) => typeof v === 'string')) list.push(parts.join(''));
  }
  return list.filter((s) => s.length > 0);
}

/** Compiled grammars by GBNF text, so a schema sent again (a batch, a client's fixed format) is parsed once. */
const grammarCache = new WeakMap<Llama, Map<string, Promise<LlamaGrammar>>>();
const GRAMMAR_CACHE_SIZE = 32;

function cachedGrammar(llama: Llama, grammar: string): Promise<LlamaGrammar> {
  let cache = grammarCache.get(llama);
  if (!cache) grammarCache.set(llama, (cache = new Map()));
  const hit = cache.get(grammar);
  if (hit) {
    cache.delete(grammar); // re-inserted below: the map's order is least recently used first
    cache.set(grammar, hit);
    return hit;
  }
  const created = llama.createGrammar({ grammar });
  created.catch(() => cache.delete(grammar));
  cache.set(grammar, created);
  if (cache.size > GRAMMAR_CACHE_SIZE) cache.delete(cache.keys().next().value!);
  return created;
}

/**
 * Grammar for Ollama's `format`: `'json'` for any JSON value, or a JSON schema compiled by the
 * fabric's own compiler, which enforces the schema in full or refuses it naming the keyword
 * (the API refuses the same schemas at submit time; this is the engine's own guard).
 */
export async function formatGrammar(llama: Llama, format: GenerateRequest['format']): Promise<LlamaGrammar | undefined> {
  if (format === undefined) return undefined;
  if (format === 'json') return llama.getGrammarFor('json');
  const compiled = compileJsonSchema(format);
  if (!compiled.ok) throw new EngineError('invalid_request', `format schema refused: ${describeRefusal(compiled.refusal)}`);
  try {
    return await cachedGrammar(llama, compiled.grammar);
  } catch (err) {
    throw new EngineError('engine_error', `the grammar compiled from the format schema did not load: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

export function samplingParams(options: GenerationOptions): SamplingParams {
  const repeatLastN = typeof options.repeat_last_n === 'number' ? options.repeat_last_n : SAMPLING_DEFAULTS.repeatLastN;
  return {
    temperature: options.temperature ?? SAMPLING_DEFAULTS.temperature,
    topK: options.top_k ?? SAMPLING_DEFAULTS.topK,
    topP: options.top_p ?? SAMPLING_DEFAULTS.topP,
    minP: options.min_p ?? SAMPLING_DEFAULTS.minP,
    // Ollama treats a negative seed as "random"; llama.cpp seeds are 32-bit.
    ...(options.seed !== undefined && options.seed >= 0 ? { seed: options.seed >>> 0 } : {}),
    repeatPenalty: options.repeat_penalty ?? SAMPLING_DEFAULTS.repeatPenalty,
    // -1 means the whole context in Ollama; 0 disables the penalty window.
    repeatLastN: repeatLastN < 0 ? Number.MAX_SAFE_INTEGER : repeatLastN,
  };
}
