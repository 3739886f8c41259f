/**
 * Tools the model may call on its own (`tool_choice` auto) on the llama.cpp engine, through
 * node-llama-cpp's LlamaChat and the model's chat wrapper. The demo models have random weights
 * and a ChatML template, whose wrapper uses node-llama-cpp's generic `||call: name(params)`
 * syntax, which they rarely produce; so the engine is checked for what it must do whatever the
 * model says (the tools in the prompt, text streamed, exact counts, stop, abort), and a wrapper
 * whose call syntax starts with a word the demo model says often checks, with the same real
 * model, that a call the model makes is noticed, streamed and returned.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatMLChatWrapper, ChatWrapper, getLlama, LlamaText, resolveChatWrapper, SpecialTokensText, type Llama, type LlamaContext, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeltaEvent } from '../protocol/conversation.ts';
import { EngineError } from '../protocol/errors.ts';
import { createLogger } from '../protocol/logger.ts';
import type { ChatMessage } from '../protocol/job.ts';
import type { Tool } from '../protocol/tools.ts';
import type { GenerateRequest } from '../worker/engines/port/engine.ts';
import { ensureDemoModels } from '../worker/engines/llama-cpp/demo-models.ts';
import { LlamaCppEngine } from '../worker/engines/llama-cpp/llama-cpp-engine.ts';
import { chatFunctions, runToolChat, toolChatHistory, toolChatPrompt, toolChatPromptTokens } from '../worker/engines/llama-cpp/tool-chat.ts';
import { SAMPLING_DEFAULTS } from '../worker/engines/llama-cpp/request-params.ts';
import { schemaErrors } from './support/schema-validator.ts';

const logger = createLogger('llama-cpp-tools-test', 'silent');
const lookup = { type: 'object', properties: { id: { type: 'integer' }, exact: { type: 'boolean' } }, required: ['id', 'exact'], additionalProperties: false };
const tools: Tool[] = [{ name: 'lookup', description: 'Look up a record by its id', parameters: lookup }];
const messages: ChatMessage[] = [{ role: 'user', content: 'Look up record 7' }];

let dir: string;
let engine: LlamaCppEngine;
let llama: Llama;
let model: LlamaModel;
let context: LlamaContext;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'llama-cpp-tools-'));
  await ensureDemoModels(dir);
  engine = new LlamaCppEngine({ modelsDir: dir, threads: 1, contextSize: 1024, slotsPerModel: 1 }, { logger });
  await engine.load('demo-chat');
  llama = await getLlama({ build: 'never', gpu: false, maxThreads: 1, progressLogs: false });
  model = await llama.loadModel({ modelPath: join(dir, 'demo-chat.gguf'), gpuLayers: 0 });
  context = await model.createContext({ contextSize: 1024, sequences: 1, threads: 1 });
}, 60_000);

afterAll(async () => {
  await engine?.close();
  await context?.dispose();
  await model?.dispose();
  await llama?.dispose();
  await rm(dir, { recursive: true, force: true });
});

function chat(overrides: Partial<GenerateRequest> = {}): GenerateRequest {
  return { model: 'demo-chat', task: 'chat', messages, tools, options: { num_predict: 24, seed: 3 }, signal: new AbortController().signal, onToken: () => undefined, ...overrides };
}

describe('auto tool choice on the llama.cpp engine', () => {
  it("renders the tools into the model's chat wrapper prompt", () => {
    const wrapper = resolveChatWrapper(model);
    const history = toolChatHistory(messages);
    const prompt = toolChatPrompt(wrapper, history, chatFunctions(tools)).toString();
    expect(prompt).toContain('lookup');
    expect(prompt).toContain('Look up a record by its id');
    expect(prompt).toContain('||call:');
    const bare = toolChatPromptTokens(model, wrapper, history, {}).length;
    expect(toolChatPromptTokens(model, wrapper, history, chatFunctions(tools)).length).toBeGreaterThan(bare + 50);
  });

  it('renders history tool turns as function calls with their results', () => {
    const history = toolChatHistory([
      ...messages,
      { role: 'assistant', content: '', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'lookup', arguments: '{"id":7,"exact":true}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: '{"name":"seven"}' },
      { role: 'tool', tool_call_id: 'other', content: 'stray' },
    ]);
    expect(history).toEqual([
      { type: 'user', text: 'Look up record 7' },
      { type: 'model', response: [{ type: 'functionCall', name: 'lookup', params: { id: 7, exact: true }, result: { name: 'seven' } }] },
      { type: 'user', text: '[tool result other] stray' },
    ]);
    const prompt = toolChatPrompt(resolveChatWrapper(model), history, chatFunctions(tools)).toString();
    expect(prompt).toContain('||call: lookup({"id": 7, "exact": true})');
    expect(prompt).toContain('||result: {"name": "seven"}');
  });

  it('streams text with exact token counts when the model answers in text', async () => {
    const streamed: string[] = [];
    const plain = await engine.generate(chat({ tools: undefined }));
    const r = await engine.generate(chat({ onToken: (t) => streamed.push(t) }));
    expect(r.toolCalls).toBeUndefined();
    expect(r).toMatchObject({ doneReason: 'length', completionTokens: 24 });
    expect(streamed.length).toBeGreaterThan(1);
    expect(streamed.join('')).toBe(r.text);
    expect(r.promptTokens).toBeGreaterThan(plain.promptTokens + 50);
  });

  it('ends on a stop sequence and leaves it out of the text', async () => {
    const full = await engine.generate(chat({ options: { num_predict: 40, seed: 5 } }));
    const words = full.text.split(' ');
    const stop = ` ${words[Math.floor(words.length / 2)]}`;
    const streamed: string[] = [];
    const r = await engine.generate(chat({ options: { num_predict: 40, seed: 5, stop: [stop] }, onToken: (t) => streamed.push(t) }));
    expect(r.doneReason).toBe('stop');
    expect(r.text).toBe(full.text.slice(0, full.text.indexOf(stop)));
    expect(streamed.join('')).toBe(r.text);
  });

  it('aborts with code aborted and frees the slot', async () => {
    const controller = new AbortController();
    let seen = 0;
    const err = await engine
      .generate(chat({ options: { num_predict: 300 }, signal: controller.signal, onToken: () => ++seen === 2 && controller.abort() }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe('aborted');
    expect((await engine.generate(chat())).completionTokens).toBe(24);
  });

  it('refuses what LlamaChat cannot combine with functions', async () => {
    for (const extra of [{ format: 'json' as const }, { logprobs: { top: 0 } }]) {
      const err = await engine.generate(chat(extra)).catch((e: unknown) => e);
      expect((err as EngineError).code).toBe('invalid_request');
    }
  });
});

/** ChatML with a call syntax that begins with " the", which the demo model says often. */
class WordCallWrapper extends ChatMLChatWrapper {
  override readonly settings = {
    ...ChatWrapper.defaultSettings,
    functions: {
      call: { optionalPrefixSpace: true, prefix: ' the', paramsPrefix: LlamaText(new SpecialTokensText('(')), suffix: LlamaText(new SpecialTokensText(')')) },
      result: { prefix: ' -> ', suffix: '\n' },
    },
  };
}

describe('a call the model makes, in its wrapper format', () => {
  it('is noticed, streamed as call events and returned with arguments held to the schema', async () => {
    const wrapper = new WordCallWrapper();
    const history = toolChatHistory(messages);
    const functions = chatFunctions(tools);
    const promptTokens = toolChatPromptTokens(model, wrapper, history, functions).length;
    let withCalls = 0;
    const seeds = [1, 2, 3, 4, 5, 6];
    for (const seed of seeds) {
      const sequence = context.getSequence();
      const text: string[] = [];
      const deltas: DeltaEvent[] = [];
      try {
        const r = await runToolChat(sequence, wrapper, history, functions, promptTokens, {
          temperature: SAMPLING_DEFAULTS.temperature, topK: SAMPLING_DEFAULTS.topK, topP: SAMPLING_DEFAULTS.topP, minP: 0, seed, repeatPenalty: 1.1, repeatLastN: 64,
          maxTokens: 300, stops: [], signal: new AbortController().signal,
          onToken: (t) => text.push(t),
          onDelta: (d) => deltas.push(d),
        });
        expect(text.join('')).toBe(r.text);
        expect(r.promptTokens).toBe(promptTokens);
        if (!r.toolCalls) continue;
        withCalls++;
        expect(r.doneReason).toBe('stop');
        r.toolCalls.forEach((c, index) => {
          expect(c.function.name).toBe('lookup');
          expect(schemaErrors(lookup, JSON.parse(c.function.arguments))).toBeNull();
          const mine = deltas.filter((d) => 'index' in d && d.index === index);
          expect(mine[0]).toEqual({ type: 'tool_call_start', index, id: c.id, name: 'lookup' });
          expect(mine.at(-1)).toEqual({ type: 'tool_call_end', index });
          expect(mine.flatMap((d) => (d.type === 'tool_call_delta' ? [d.arguments] : [])).join('')).toBe(c.function.arguments);
        });
      } finally {
        await sequence.dispose();
      }
    }
    console.log(`calls made in ${withCalls} of ${seeds.length} answers with the word-call wrapper`);
    expect(withCalls).toBeGreaterThan(0);
  }, 120_000);
});
