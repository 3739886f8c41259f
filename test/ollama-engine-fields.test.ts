/**
 * The Ollama engine's newer fields against the fake Ollama (which follows docs/api.md): tools
 * out and tool calls back (whole calls streamed as start / arguments / end), reasoning as
 * `reasoning` deltas, logprobs in Ollama's shape, images on chat and generate, a forced call
 * constrained by `format`, and Ollama's 400 for a field the model lacks the capability for.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DeltaEvent } from '../protocol/conversation.ts';
import { EngineError } from '../protocol/errors.ts';
import { forcedCallSchema, parseToolCall, type Tool } from '../protocol/tools.ts';
import type { GenerateRequest } from '../worker/engines/port/engine.ts';
import { OllamaEngine } from '../worker/engines/ollama/ollama-engine.ts';
import { ollamaMessages } from '../worker/engines/ollama/generation.ts';
import { log } from './support/fabric.ts';
import { FAKE_THOUGHTS, FAKE_TOKENS, startFakeOllama, type FakeOllama, type FakeOllamaOptions } from './support/fake-ollama.ts';

const MODEL = 'tinyllama:latest';
const WEATHER: Tool = { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1 } }, required: ['city', 'days'] } };
const PNG = Buffer.from('fake image bytes').toString('base64');

describe('the Ollama engine: tools, thinking, logprobs and images', () => {
  let fake: FakeOllama;
  let engine: OllamaEngine;
  async function setup(o: Partial<FakeOllamaOptions> = {}) {
    fake = await startFakeOllama(o);
    engine = new OllamaEngine({ url: fake.url, pollIntervalMs: 10 }, { logger: log });
  }
  afterEach(async () => {
    await engine?.close();
    await fake?.stop();
  });

  const req = (over: Partial<GenerateRequest> = {}) => {
    const tokens: string[] = [];
    const deltas: DeltaEvent[] = [];
    const r: GenerateRequest = { model: MODEL, task: 'chat', messages: [{ role: 'user', content: 'weather in Paris?' }], options: {}, signal: new AbortController().signal, onToken: (t) => tokens.push(t), onDelta: (d) => deltas.push(d), ...over };
    return { r, tokens, deltas };
  };
  const lastInference = () => fake.requests.filter((q) => q.path === '/api/chat' || q.path === '/api/generate').at(-1)!;

  it('sends tools in Ollama\'s shape and maps the call back, with an id made for it, streamed as start, arguments, end', async () => {
    await setup();
    const { r, tokens, deltas } = req({ tools: [WEATHER] });
    const res = await engine.generate(r);
    expect(lastInference().body.tools).toEqual([{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: WEATHER.parameters } }]);
    expect(res.toolCalls).toHaveLength(1);
    const call = res.toolCalls![0]!;
    expect(call).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
    expect(call.id).toMatch(/^call_/);
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'x', days: 1 });
    expect(tokens).toEqual([]);
    expect(deltas).toEqual([
      { type: 'tool_call_start', index: 0, id: call.id, name: 'get_weather' },
      { type: 'tool_call_delta', index: 0, arguments: call.function.arguments },
      { type: 'tool_call_end', index: 0 },
    ]);
  });

  it('sends a history with calls and results as Ollama takes it: arguments objects, tool_name on the result', async () => {
    await setup();
    const messages = [
      { role: 'user' as const, content: 'weather?' },
      { role: 'assistant' as const, content: '', tool_calls: [{ id: 'call_1', type: 'function' as const, function: { name: 'get_weather', arguments: '{"city":"Paris","days":2}' } }] },
      { role: 'tool' as const, content: '11 degrees', tool_call_id: 'call_1' },
    ];
    const { r, tokens } = req({ messages, tools: [WEATHER] });
    const res = await engine.generate(r);
    expect(lastInference().body.messages).toEqual([
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', function: { index: 0, name: 'get_weather', arguments: { city: 'Paris', days: 2 } } }] },
      { role: 'tool', content: '11 degrees', tool_call_id: 'call_1', tool_name: 'get_weather' },
    ]);
    // Given the tool's result, the model answers in text.
    expect(res.toolCalls).toBeUndefined();
    expect(tokens.join('')).toBe(FAKE_TOKENS.join(''));
  });

  it('forces a call by format: the call schema goes out as format, the answer parses into a call that fits', async () => {
    await setup();
    const { r } = req({ format: forcedCallSchema([WEATHER]) });
    const res = await engine.generate(r);
    expect(lastInference().body.format).toEqual(forcedCallSchema([WEATHER]));
    const call = parseToolCall(res.text);
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'x', days: 1 });
  });

  it('passes think through and returns the reasoning apart, streamed as reasoning deltas, on chat and generate', async () => {
    await setup();
    const chat = req({ think: 'high' });
    const res = await engine.generate(chat.r);
    expect(lastInference().body.think).toBe('high');
    expect(res.thinking).toBe(FAKE_THOUGHTS.join(''));
    expect(res.text).toBe(FAKE_TOKENS.join(''));
    expect(chat.deltas).toEqual(FAKE_THOUGHTS.map((text) => ({ type: 'reasoning', text })));
    const gen = req({ task: 'generate', messages: undefined, prompt: 'hi', think: true });
    expect((await engine.generate(gen.r)).thinking).toBe(FAKE_THOUGHTS.join(''));
    expect(lastInference().body).toMatchObject({ think: true, prompt: 'hi' });
  });

  it('asks for logprobs with top_logprobs and returns one entry per token in Ollama\'s shape', async () => {
    await setup();
    const { r } = req({ logprobs: { top: 2 } });
    const res = await engine.generate(r);
    expect(lastInference().body).toMatchObject({ logprobs: true, top_logprobs: 2 });
    expect(res.logprobs).toHaveLength(FAKE_TOKENS.length);
    expect(res.logprobs!.map((l) => l.token).join('')).toBe(res.text);
    expect(res.logprobs![0]).toEqual({ token: FAKE_TOKENS[0], logprob: -0.1, top_logprobs: [{ token: FAKE_TOKENS[0], logprob: -0.1 }, { token: 'alt1', logprob: -1.1 }] });
    const plain = req();
    expect((await engine.generate(plain.r)).logprobs).toBeUndefined();
    expect(lastInference().body.logprobs).toBeUndefined();
  });

  it('sends a generate job\'s images and a chat message\'s images to Ollama', async () => {
    await setup();
    const gen = req({ task: 'generate', messages: undefined, prompt: 'what is this', images: [PNG, PNG] });
    const res = await engine.generate(gen.r);
    expect(lastInference().body.images).toEqual([PNG, PNG]);
    expect(res.promptTokens).toBe(3 + 2);
    const chat = req({ messages: [{ role: 'user', content: 'and this', images: [PNG] }] });
    await engine.generate(chat.r);
    expect(lastInference().body.messages).toEqual([{ role: 'user', content: 'and this', images: [PNG] }]);
  });

  it('fails as invalid_request, final, when Ollama refuses a field the model cannot take', async () => {
    await setup({ models: [{ name: MODEL, size: 1, capabilities: ['completion'] }] });
    for (const over of [{ tools: [WEATHER] }, { think: true as const }, { messages: [{ role: 'user' as const, content: 'x', images: [PNG] }] }]) {
      const err = await engine.generate(req(over).r).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).code).toBe('invalid_request');
      expect((err as EngineError).retryable).toBe(false);
    }
  });

  it('keeps every call of a parallel answer, indexed in order, and only the first with parallel calls off', async () => {
    await setup({ callAllTools: true });
    const lookup: Tool = { name: 'lookup', parameters: { type: 'object', properties: { id: { type: 'integer' } } } };
    const both = req({ tools: [WEATHER, lookup] });
    const res = await engine.generate(both.r);
    expect(res.toolCalls!.map((c) => c.function.name)).toEqual(['get_weather', 'lookup']);
    expect(both.deltas.filter((d) => d.type === 'tool_call_start').map((d) => d.index)).toEqual([0, 1]);
    const one = req({ tools: [WEATHER, lookup], parallelToolCalls: false });
    const first = await engine.generate(one.r);
    expect(first.toolCalls!.map((c) => c.function.name)).toEqual(['get_weather']);
    expect(one.deltas.filter((d) => d.type === 'tool_call_start')).toHaveLength(1);
  });

  it('maps a history without tool fields to plain messages', () => {
    expect(ollamaMessages([{ role: 'system', content: 's' }, { role: 'user', content: 'u' }])).toEqual([{ role: 'system', content: 's' }, { role: 'user', content: 'u' }]);
  });
});
