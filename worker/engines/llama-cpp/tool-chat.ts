/**
 * A chat whose model may call tools on its own (`tool_choice` auto), in the model's own
 * tool-call format: node-llama-cpp's `LlamaChat` with the chat wrapper the model resolved to
 * (Llama 3.1, Qwen, Functionary, Harmony, Mistral, DeepSeek, Gemma, or the generic
 * `||call: name(params)` syntax for templates like ChatML) renders the tools into the prompt,
 * notices a call as the model starts one, holds its name and parameters to node-llama-cpp's
 * grammar for the tool's schema, and returns the calls without running them.
 *
 * Only these jobs go through `LlamaChat`; every other chat keeps the exact token loop of
 * generation.ts. Nothing is guaranteed of an auto call beyond what node-llama-cpp's own schema
 * grammar holds: a call the model makes is returned as it made it.
 */
import {
  LlamaChat,
  type ChatHistoryItem,
  type ChatModelFunctionCall,
  type ChatModelFunctions,
  type ChatModelResponse,
  type ChatWrapper,
  type GbnfJsonSchema,
  type LlamaContextSequence,
  type LlamaModel,
  type LlamaText,
  type Token,
} from 'node-llama-cpp';
import type { DeltaEvent } from '../../../protocol/conversation.ts';
import { EngineError } from '../../../protocol/errors.ts';
import type { ChatMessage } from '../../../protocol/job.ts';
import { toolCallId, type Tool, type ToolCall } from '../../../protocol/tools.ts';
import type { GenerateResult } from '../port/engine.ts';
import type { SamplingParams } from './generation.ts';

export interface ToolChatParams extends SamplingParams {
  maxTokens: number;
  stops: readonly string[];
  /** At most this many calls in one answer (undefined: as many as the wrapper allows). */
  maxCalls?: number;
  signal: AbortSignal;
  onToken: (text: string) => void;
  onDelta: (ev: DeltaEvent) => void;
}

/** The tools as node-llama-cpp's functions (their parameters schemas as its grammar reads them). */
export function chatFunctions(tools: readonly Tool[]): ChatModelFunctions {
  const functions: Record<string, { description?: string; params?: GbnfJsonSchema }> = {};
  for (const t of tools) {
    functions[t.name] = {
      ...(t.description ? { description: t.description } : {}),
      ...(t.parameters ? { params: t.parameters as GbnfJsonSchema } : {}),
    };
  }
  return functions;
}

/** JSON text as its value (arguments, most tool results), other text as it is. */
function parseJsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The messages as chat history in the model's own format: an assistant turn's calls become
 * function calls with the results of the `tool` messages that answer them (JSON as its value);
 * a tool result no
 * call in the history asked for goes in as a user turn.
 */
export function toolChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const results = new Map<string, string>();
  for (const m of messages) if (m.role === 'tool' && m.tool_call_id !== undefined) results.set(m.tool_call_id, m.content);
  const answered = new Set<string>();
  const history: ChatHistoryItem[] = [];
  for (const m of messages) {
    if (m.role === 'system') history.push({ type: 'system', text: m.content });
    else if (m.role === 'user') history.push({ type: 'user', text: m.content });
    else if (m.role === 'assistant') {
      const response: ChatModelResponse['response'] = m.content ? [m.content] : [];
      for (const c of m.tool_calls ?? []) {
        const call: ChatModelFunctionCall = { type: 'functionCall', name: c.function.name, params: parseJsonOrText(c.function.arguments), result: parseJsonOrText(results.get(c.id) ?? '') };
        response.push(call);
        answered.add(c.id);
      }
      history.push({ type: 'model', response });
    } else if (m.tool_call_id === undefined || !answered.has(m.tool_call_id)) {
      history.push({ type: 'user', text: `[tool result ${m.tool_call_id ?? ''}] ${m.content}` });
    }
  }
  return history;
}

/** The prompt tokens `LlamaChat` evaluates for this history and these functions. */
export function toolChatPromptTokens(model: LlamaModel, chatWrapper: ChatWrapper, history: ChatHistoryItem[], functions: ChatModelFunctions): Token[] {
  return toolChatPrompt(chatWrapper, history, functions).tokenize(model.tokenizer);
}

/** The prompt as the chat wrapper renders it, the tools' documentation included. */
export function toolChatPrompt(chatWrapper: ChatWrapper, history: ChatHistoryItem[], functions: ChatModelFunctions): LlamaText {
  return chatWrapper.generateContextState({
    chatHistory: [...history, { type: 'model', response: [] }],
    availableFunctions: functions,
    documentFunctionParams: true,
  }).contextText;
}

/**
 * Streams the calls' pieces as canonical events and assembles each call's arguments as generated.
 * Whitespace is held back until something follows it, so the whitespace node-llama-cpp's grammar
 * lets a call end with is neither streamed nor kept: streamed pieces add up to the arguments.
 */
class CallStream {
  readonly calls: Array<{ id: string; name: string; args: string; blank: string }> = [];
  private readonly onDelta: (ev: DeltaEvent) => void;
  constructor(onDelta: (ev: DeltaEvent) => void) {
    this.onDelta = onDelta;
  }

  piece(index: number, name: string, text: string, done: boolean): void {
    let call = this.calls[index];
    if (!call) {
      call = { id: toolCallId(), name, args: '', blank: '' };
      this.calls[index] = call;
      this.onDelta({ type: 'tool_call_start', index, id: call.id, name });
    }
    const held = call.blank + text;
    const body = held.trimEnd();
    call.blank = held.slice(body.length);
    if (body) {
      call.args += body;
      this.onDelta({ type: 'tool_call_delta', index, arguments: body });
    }
    if (done) this.onDelta({ type: 'tool_call_end', index });
  }
}

/** Runs one auto-tools chat on a fresh sequence; the caller disposes the sequence. */
export async function runToolChat(
  sequence: LlamaContextSequence,
  chatWrapper: ChatWrapper,
  history: ChatHistoryItem[],
  functions: ChatModelFunctions,
  promptTokens: number,
  params: ToolChatParams,
): Promise<GenerateResult> {
  const started = performance.now();
  let firstAt: number | undefined;
  const seen = () => {
    firstAt ??= performance.now();
  };
  const stream = new CallStream(params.onDelta);
  let thinking = '';
  const chat = new LlamaChat({ contextSequence: sequence, chatWrapper });
  try {
    if (params.maxTokens <= 0) return { text: '', doneReason: 'length', promptTokens, completionTokens: 0, promptEvalMs: 0, evalMs: 0 };
    const res = await chat.generateResponse(history, {
      functions,
      documentFunctionParams: true,
      ...(params.maxCalls !== undefined ? { maxParallelFunctionCalls: params.maxCalls } : {}),
      maxTokens: params.maxTokens,
      temperature: params.temperature,
      topK: params.topK,
      topP: params.topP,
      minP: params.minP,
      ...(params.seed !== undefined ? { seed: params.seed } : {}),
      repeatPenalty: params.repeatPenalty !== 1 && params.repeatLastN > 0 ? { lastTokens: params.repeatLastN, penalty: params.repeatPenalty } : false,
      ...(params.stops.length > 0 ? { customStopTriggers: params.stops } : {}),
      signal: params.signal,
      onTextChunk: (text) => {
        seen();
        if (text) params.onToken(text);
      },
      onResponseChunk: (chunk) => {
        seen();
        if (chunk.type === 'segment' && chunk.segmentType === 'thought' && chunk.text) {
          thinking += chunk.text;
          params.onDelta({ type: 'reasoning', text: chunk.text });
        }
      },
      onFunctionCallParamsChunk: (c) => {
        seen();
        stream.piece(c.callIndex, c.functionName, c.paramsChunk, c.done);
      },
    });
    const made = res.functionCalls ?? [];
    if (stream.calls.length > made.length) {
      throw new EngineError('invalid_request', `a tool call was cut short at ${sequence.tokenMeter.usedOutputTokens} tokens; raise max_tokens`);
    }
    const calls: ToolCall[] = made.map((fc, i) => {
      const streamed = stream.calls[i];
      // The streamed text is the arguments as generated; a call with no parameters streams none.
      const args = streamed && streamed.args !== '' ? streamed.args : JSON.stringify(fc.params ?? {});
      return { id: streamed?.id ?? toolCallId(), type: 'function', function: { name: fc.functionName, arguments: args } };
    });
    const ended = performance.now();
    const stopped = res.metadata.stopReason;
    return {
      text: res.response,
      doneReason: stopped === 'maxTokens' ? 'length' : 'stop',
      ...(calls.length > 0 ? { toolCalls: calls } : {}),
      ...(thinking ? { thinking } : {}),
      promptTokens,
      completionTokens: sequence.tokenMeter.usedOutputTokens,
      promptEvalMs: Math.round((firstAt ?? ended) - started),
      evalMs: Math.round(ended - (firstAt ?? ended)),
    };
  } catch (err) {
    if (params.signal.aborted) throw new EngineError('aborted', 'generation aborted', { cause: err });
    throw err;
  } finally {
    chat.dispose({ disposeSequence: false });
  }
}
