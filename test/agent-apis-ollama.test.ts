/**
 * Tools, reasoning, logprobs and images through every API family the fabric speaks, with the
 * official clients (`ollama`, `openai`, `@anthropic-ai/sdk`), against a worker on the Ollama
 * engine in front of the fake Ollama (which follows docs/api.md: a model given tools calls the
 * first one; given a tool's result it answers in text; `think` streams reasoning first).
 */
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OllamaEngine } from '../worker/engines/ollama/ollama-engine.ts';
import { call, log, startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { FAKE_THOUGHTS, FAKE_TOKENS, startFakeOllama, type FakeOllama } from './support/fake-ollama.ts';
import { schemaErrors } from './support/schema-validator.ts';

const MODEL = 'tinyllama';
const weather = { type: 'object', properties: { city: { type: 'string', minLength: 1 }, days: { type: 'integer', minimum: 1, maximum: 14 } }, required: ['city', 'days'], additionalProperties: false };
const PNG = Buffer.from('not really a png').toString('base64');
const ANSWER = FAKE_TOKENS.join('');
const THOUGHT = FAKE_THOUGHTS.join('');

let fake: FakeOllama;
let f: TestFabric;
let ollama: Ollama;
let openai: OpenAI;
let anthropic: Anthropic;
beforeAll(async () => {
  fake = await startFakeOllama({ tokenDelayMs: 1 });
  f = await startFabric();
  await f.addWorker(new OllamaEngine({ url: fake.url, pollIntervalMs: 20 }, { logger: log }), { preload: ['tinyllama:latest'] });
  await waitFor(async () => (await call(f.url, '/api/ps')).json.models.length >= 1);
  ollama = new Ollama({ host: f.url });
  openai = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: f.url, apiKey: 'unused', maxRetries: 0 });
}, 30_000);
afterAll(async () => {
  await f?.close();
  await fake?.stop();
});

/** The last chat request the fake Ollama received. */
const lastChat = () => fake.requests.filter((r) => r.path === '/api/chat' && r.body.messages?.length).at(-1)!.body;
const lastGenerate = () => fake.requests.filter((r) => r.path === '/api/generate' && r.body.prompt).at(-1)!.body;

describe('Ollama routes with tools, thinking, logprobs and images (ollama client)', () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: weather } }];

  it('answers a chat with tools with message.tool_calls, the arguments an object that fits the schema', async () => {
    const r = await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'weather in Paris?' }], tools });
    expect(r.done_reason).toBe('stop');
    expect(r.message.content).toBe('');
    expect(r.message.tool_calls).toHaveLength(1);
    const c = r.message.tool_calls![0]!;
    expect(c.function.name).toBe('get_weather');
    expect(schemaErrors(weather, c.function.arguments)).toBeNull();
    expect(lastChat().tools).toEqual(tools);
  });

  it('streams the call whole in one chunk, as Ollama does, and takes the tool result back by tool_name', async () => {
    const chunks = [];
    for await (const part of await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'weather?' }], tools, stream: true })) chunks.push(part);
    const withCalls = chunks.filter((c) => c.message.tool_calls?.length);
    expect(withCalls).toHaveLength(1);
    const call0 = withCalls[0]!.message.tool_calls![0]!;
    expect(chunks.at(-1)!.done).toBe(true);
    const next = await ollama.chat({
      model: MODEL,
      tools,
      messages: [{ role: 'user', content: 'weather?' }, { role: 'assistant', content: '', tool_calls: [call0] }, { role: 'tool', content: '11 degrees', tool_name: 'get_weather' }],
    });
    expect(next.message).toMatchObject({ content: ANSWER });
    expect(next.message.tool_calls).toBeUndefined();
    // The result reached Ollama as its tool message, the call as Ollama's call.
    const sent = lastChat().messages;
    expect(sent[1]).toMatchObject({ role: 'assistant', tool_calls: [{ function: { name: 'get_weather', arguments: call0.function.arguments } }] });
    expect(sent[2]).toMatchObject({ role: 'tool', content: '11 degrees', tool_name: 'get_weather' });
  });

  it('returns message.thinking and streams it before the text', async () => {
    const r = await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'think' }], think: true });
    expect(r.message).toMatchObject({ thinking: THOUGHT, content: ANSWER });
    const parts = [];
    for await (const p of await ollama.generate({ model: MODEL, prompt: 'think', think: 'low', stream: true })) parts.push(p);
    expect(parts.map((p) => p.thinking ?? '').join('')).toBe(THOUGHT);
    expect(parts.map((p) => p.response).join('')).toBe(ANSWER);
    const firstText = parts.findIndex((p) => p.response !== '');
    expect(parts.slice(firstText).every((p) => !p.thinking)).toBe(true);
    expect(lastGenerate().think).toBe('low');
  });

  it('returns logprobs in Ollama\'s shape, one per token, streamed or not', async () => {
    const r = await call(f.url, '/api/generate', { body: { model: MODEL, prompt: 'p', stream: false, logprobs: true, top_logprobs: 2 } });
    expect(r.json.logprobs).toHaveLength(FAKE_TOKENS.length);
    expect(r.json.logprobs.map((l: { token: string }) => l.token).join('')).toBe(r.json.response);
    expect(r.json.logprobs[0].top_logprobs).toHaveLength(2);
    const res = await fetch(`${f.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'p' }], logprobs: true }) });
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
    const all = lines.flatMap((l) => l.logprobs ?? []);
    expect(all.map((l: { token: string }) => l.token).join('')).toBe(lines.map((l) => l.message.content).join(''));
  });

  it('passes images on /api/generate and on chat messages to Ollama', async () => {
    await ollama.generate({ model: MODEL, prompt: 'what is this', images: [PNG] });
    expect(lastGenerate().images).toEqual([PNG]);
    await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'and this', images: [PNG] }] });
    expect(lastChat().messages[0].images).toEqual([PNG]);
  });

  it('answers Ollama\'s own 400 for a field the model cannot take, and think "max" with a 400 naming it', async () => {
    const err = await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'x', images: ['%%%'] }] }).catch((e) => e);
    expect(err.status_code).toBe(400);
    expect(err.error).toMatch(/base64/);
    const max = await call(f.url, '/api/chat', { body: { model: MODEL, messages: [{ role: 'user', content: 'x' }], think: 'max' } });
    expect(max.status).toBe(400);
    expect(max.json.error).toMatch(/^think: "max" is not supported/);
  });
});

describe('OpenAI chat completions over the Ollama engine', () => {
  const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [{ type: 'function', function: { name: 'get_weather', parameters: weather } }];

  it('streams an automatic call as tool_calls fragments (index, id, name, then arguments) that add up to the final call', async () => {
    const whole = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'weather?' }], tools });
    expect(whole.choices[0]!.finish_reason).toBe('tool_calls');
    const stream = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'weather?' }], tools, stream: true });
    const frags: OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish = '';
    for await (const chunk of stream) {
      frags.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe('tool_calls');
    expect(frags[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'get_weather', arguments: '' } });
    expect(frags[0]!.id).toMatch(/^call_/);
    expect(frags.slice(1).every((x) => x.index === 0 && x.id === undefined && x.function?.name === undefined)).toBe(true);
    const args = frags.map((x) => x.function?.arguments ?? '').join('');
    expect(schemaErrors(weather, JSON.parse(args))).toBeNull();
    expect(args).toBe((whole.choices[0]!.message.tool_calls![0] as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall).function.arguments);
  });

  it('takes reasoning_effort as think and answers reasoning_content, streamed as its own deltas', async () => {
    const r = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], reasoning_effort: 'medium' });
    expect(lastChat().think).toBe('medium');
    expect((r.choices[0]!.message as unknown as { reasoning_content: string }).reasoning_content).toBe(THOUGHT);
    expect(r.choices[0]!.message.content).toBe(ANSWER);
    let reasoning = '';
    let text = '';
    for await (const c of await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], reasoning_effort: 'low', stream: true })) {
      reasoning += (c.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? '';
      text += c.choices[0]?.delta.content ?? '';
    }
    expect([reasoning, text]).toEqual([THOUGHT, ANSWER]);
  });

  it('answers logprobs and top_logprobs in OpenAI\'s shape, streamed or not', async () => {
    const r = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], logprobs: true, top_logprobs: 3 });
    const content = r.choices[0]!.logprobs!.content!;
    expect(content.map((c) => c.token).join('')).toBe(r.choices[0]!.message.content);
    expect(content[0]).toMatchObject({ token: FAKE_TOKENS[0], logprob: expect.any(Number), bytes: [...Buffer.from(FAKE_TOKENS[0]!)] });
    expect(content[0]!.top_logprobs).toHaveLength(3);
    const streamed: OpenAI.Chat.Completions.ChatCompletionTokenLogprob[] = [];
    for await (const c of await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], logprobs: true, stream: true })) streamed.push(...(c.choices[0]?.logprobs?.content ?? []));
    expect(streamed.map((c) => c.token).join('')).toBe(ANSWER);
    const legacy = await openai.completions.create({ model: MODEL, prompt: 'x', logprobs: 2 });
    expect(legacy.choices[0]!.logprobs).toMatchObject({ tokens: FAKE_TOKENS, text_offset: expect.any(Array) });
  });

  it('takes image_url parts as data: URLs and refuses http URLs with a 400 saying only data URLs are taken', async () => {
    await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] }] });
    expect(lastChat().messages[0]).toMatchObject({ content: 'see', images: [PNG] });
    const err = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.message).toMatch(/only data:image\/\.\.\.;base64 URLs are taken/);
    expect(err.param).toBe('messages.0.content.0.image_url.url');
  });
});

describe('Anthropic Messages over the Ollama engine', () => {
  const tools: Anthropic.Tool[] = [{ name: 'get_weather', description: 'Weather', input_schema: weather as Anthropic.Tool.InputSchema }];

  it('answers an automatic call as a tool_use block with stop_reason tool_use, streamed as input_json_delta pieces', async () => {
    const m = await anthropic.messages.create({ model: MODEL, max_tokens: 100, messages: [{ role: 'user', content: 'weather?' }], tools });
    expect(m.stop_reason).toBe('tool_use');
    const use = m.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use')!;
    expect(schemaErrors(weather, use.input)).toBeNull();
    const stream = anthropic.messages.stream({ model: MODEL, max_tokens: 100, messages: [{ role: 'user', content: 'weather?' }], tools });
    let json = '';
    for await (const ev of stream) if (ev.type === 'content_block_delta' && ev.delta.type === 'input_json_delta') json += ev.delta.partial_json;
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe('tool_use');
    expect(JSON.parse(json)).toEqual((final.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock).input);
  });

  it('forces a call with tool_choice tool on Ollama through format, and the result goes back as a tool_result', async () => {
    const m = await anthropic.messages.create({ model: MODEL, max_tokens: 100, messages: [{ role: 'user', content: 'weather?' }], tools, tool_choice: { type: 'tool', name: 'get_weather' } });
    const use = m.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use')!;
    expect(use.name).toBe('get_weather');
    expect(schemaErrors(weather, use.input)).toBeNull();
    expect(lastChat().format).toMatchObject({ properties: { name: { const: 'get_weather' } } });
    const next = await anthropic.messages.create({
      model: MODEL,
      max_tokens: 100,
      tools,
      messages: [{ role: 'user', content: 'weather?' }, { role: 'assistant', content: m.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '11 degrees' }] }],
    });
    expect(next.stop_reason).toBe('end_turn');
    expect((next.content[0] as Anthropic.TextBlock).text).toBe(ANSWER);
    expect(lastChat().messages.at(-1)).toMatchObject({ role: 'tool', content: '11 degrees', tool_call_id: use.id, tool_name: 'get_weather' });
  });

  it('takes thinking enabled as think, answering a thinking block first, streamed as thinking_delta', async () => {
    const body = { model: MODEL, max_tokens: 2048, messages: [{ role: 'user' as const, content: 'x' }], thinking: { type: 'enabled' as const, budget_tokens: 1024 } };
    const m = await anthropic.messages.create(body);
    expect(m.content.map((b) => b.type)).toEqual(['thinking', 'text']);
    expect((m.content[0] as Anthropic.ThinkingBlock).thinking).toBe(THOUGHT);
    const types: string[] = [];
    let thinking = '';
    const stream = anthropic.messages.stream(body);
    for await (const ev of stream) {
      types.push(ev.type === 'content_block_delta' ? ev.delta.type : ev.type === 'content_block_start' ? `start:${ev.content_block.type}` : ev.type);
      if (ev.type === 'content_block_delta' && ev.delta.type === 'thinking_delta') thinking += ev.delta.thinking;
    }
    expect(thinking).toBe(THOUGHT);
    const compact = types.filter((t, i) => t !== types[i - 1]);
    expect(compact).toEqual(['message_start', 'start:thinking', 'thinking_delta', 'content_block_stop', 'start:text', 'text_delta', 'content_block_stop', 'message_delta', 'message_stop']);
  });

  it('passes a base64 image block to the engine', async () => {
    await anthropic.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } }, { type: 'text', text: 'what?' }] }] });
    expect(lastChat().messages[0]).toMatchObject({ role: 'user', content: 'what?', images: [PNG] });
  });
});

describe('Responses API log probabilities (openai client)', () => {
  it('answers include message.output_text.logprobs on the output text, with top_logprobs alternatives, and whole on output_text.done when streamed', async () => {
    const body = { model: MODEL, input: 'x', include: ['message.output_text.logprobs' as const], top_logprobs: 2 };
    const r = await openai.responses.create(body);
    expect(lastChat()).toMatchObject({ logprobs: true, top_logprobs: 2 });
    expect(r.top_logprobs).toBe(2);
    const message = r.output.find((i) => i.type === 'message')!;
    const text = message.content[0] as OpenAI.Responses.ResponseOutputText;
    expect(text.text).toBe(ANSWER);
    expect(text.logprobs!.map((l) => l.token)).toEqual(FAKE_TOKENS);
    expect(text.logprobs![0]!.top_logprobs).toHaveLength(2);
    expect(text.logprobs![0]!.bytes).toEqual([...Buffer.from(FAKE_TOKENS[0]!, 'utf8')]);
    let deltas = '';
    let done: OpenAI.Responses.ResponseTextDoneEvent | undefined;
    let completed: OpenAI.Responses.Response | undefined;
    for await (const ev of await openai.responses.create({ ...body, stream: true })) {
      if (ev.type === 'response.output_text.delta') deltas += ev.delta;
      if (ev.type === 'response.output_text.done') done = ev;
      if (ev.type === 'response.completed') completed = ev.response;
    }
    expect(deltas).toBe(ANSWER);
    expect(done!.logprobs.map((l) => l.token).join('')).toBe(deltas);
    expect((completed!.output.find((i) => i.type === 'message')!.content[0] as OpenAI.Responses.ResponseOutputText).logprobs).toEqual(done!.logprobs);
  });

  it('answers no log probabilities when nobody asked', async () => {
    const r = await openai.responses.create({ model: MODEL, input: 'x' });
    expect(lastChat().logprobs).toBeUndefined();
    expect((r.output.find((i) => i.type === 'message')!.content[0] as OpenAI.Responses.ResponseOutputText).logprobs).toBeUndefined();
  });
});
