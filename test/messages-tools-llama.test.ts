/**
 * The Messages API with tools on the real llama.cpp engine, through `@anthropic-ai/sdk`: the
 * demo model has random weights, so only the grammar compiled from a tool's `input_schema`
 * makes a forced call (tool_choice any / tool) valid; every call's input is judged by ajv.
 * Streams are checked for Anthropic's event order and for deltas that add up to the final
 * message; a tool_result goes back into the next request. Ollama's /api/chat with tools on
 * this engine is checked too.
 */
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineFeatures } from '../protocol/engine-features.ts';
import { call, log, startFabric, type TestFabric } from './support/fabric.ts';
import { addDemoChatWorker, demoModelsDir, removeDir } from './support/llama-worker.ts';
import { schemaErrors } from './support/schema-validator.ts';

const MODEL = 'demo-chat';
const TRIES = Number(process.env.TOOL_TRIES ?? 100);

const weather = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 1, maxLength: 12 },
    unit: { enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', minimum: 1, maximum: 14 },
    note: { anyOf: [{ type: 'string', maxLength: 10 }, { type: 'null' }] },
  },
  required: ['city', 'unit', 'days', 'note'],
  additionalProperties: false,
};
const lookup = { type: 'object', properties: { id: { type: 'integer', minimum: 0, maximum: 999 }, exact: { type: 'boolean' } }, required: ['id', 'exact'], additionalProperties: false };
const tools: Anthropic.Tool[] = [
  { name: 'get_weather', description: 'Weather forecast', input_schema: weather as Anthropic.Tool.InputSchema },
  { name: 'lookup', input_schema: lookup as Anthropic.Tool.InputSchema },
];
const SCHEMAS: Record<string, Record<string, unknown>> = { get_weather: weather, lookup };
const ask: Anthropic.MessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];

let f: TestFabric;
let dir: string;
let client: Anthropic;
beforeAll(async () => {
  dir = await demoModelsDir();
  f = await startFabric();
  await addDemoChatWorker(f, dir);
  client = new Anthropic({ baseURL: f.url, apiKey: 'unused', maxRetries: 0 });
}, 60_000);
afterAll(async () => {
  await f?.close();
  removeDir(dir);
});

/** This SDK's types no longer list the sampling fields; the API still takes them, and so does the fabric. */
const sampling = (temperature: number) => ({ temperature }) as object;
const toolUses = (m: Anthropic.Message) => m.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');

describe('forced tool calls on the llama.cpp engine (Messages API)', () => {
  it('tool_choice tool and any: every call\'s input validates against its input_schema', async () => {
    const started = Date.now();
    let valid = 0;
    const failures: string[] = [];
    const distinct = new Set<string>();
    for (let i = 1; i <= TRIES; i++) {
      const choice: Anthropic.ToolChoice = i % 2 === 0 ? { type: 'any' } : { type: 'tool', name: 'get_weather' };
      try {
        const m = await client.messages.create({ model: MODEL, max_tokens: 120, messages: ask, tools, tool_choice: choice, ...sampling(i % 3 === 0 ? 1 : 0.7) });
        expect(m.stop_reason).toBe('tool_use');
        const uses = toolUses(m);
        expect(uses).toHaveLength(1);
        const use = uses[0]!;
        if (choice.type === 'tool') expect(use.name).toBe('get_weather');
        distinct.add(JSON.stringify(use.input));
        const schema = SCHEMAS[use.name];
        const errors = schema ? schemaErrors(schema, use.input) : `unknown tool ${use.name}`;
        if (errors === null) valid++;
        else failures.push(`try ${i}: ${errors}: ${JSON.stringify(use.input)}`);
      } catch (err) {
        failures.push(`try ${i}: ${(err as Error).message}`);
      }
    }
    console.log(`Messages API forced tool calls valid ${valid}/${TRIES} (${distinct.size} distinct) in ${Date.now() - started} ms`);
    expect(failures).toEqual([]);
    expect(valid).toBe(TRIES);
    expect(distinct.size).toBeGreaterThan(1);
  }, 300_000);

  it('streams a forced call in Anthropic\'s order, its input_json_delta pieces adding up to the final input', async () => {
    const raw = await fetch(`${f.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, max_tokens: 120, messages: ask, tools, tool_choice: { type: 'tool', name: 'lookup' }, stream: true }),
    });
    const events = (await raw.text()).split('\n\n').filter(Boolean).map((e) => JSON.parse(e.split('\ndata: ')[1]!));
    const types = events.map((e) => e.type);
    expect(types.slice(0, 3)).toEqual(['message_start', 'ping', 'content_block_start']);
    expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(types.slice(3, -3).every((t) => t === 'content_block_delta')).toBe(true);
    expect(events[2].content_block).toMatchObject({ type: 'tool_use', name: 'lookup', input: {} });
    const json = events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.partial_json).join('');
    expect(schemaErrors(lookup, JSON.parse(json))).toBeNull();
    expect(events.at(-2)).toMatchObject({ delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: expect.any(Number) } });
    // The SDK's stream helper builds the same tool_use block.
    const stream = client.messages.stream({ model: MODEL, max_tokens: 120, messages: ask, tools, tool_choice: { type: 'tool', name: 'lookup' } });
    let pieces = '';
    for await (const ev of stream) if (ev.type === 'content_block_delta' && ev.delta.type === 'input_json_delta') pieces += ev.delta.partial_json;
    const final = await stream.finalMessage();
    expect(toolUses(final)[0]!.input).toEqual(JSON.parse(pieces));
  });

  it('takes the tool_result back: the next turn answers in text, and text deltas add up to the final text', async () => {
    const first = await client.messages.create({ model: MODEL, max_tokens: 120, messages: ask, tools, tool_choice: { type: 'any' } });
    const use = toolUses(first)[0]!;
    const history: Anthropic.MessageParam[] = [...ask, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '11 degrees' }] }];
    const { data, response } = await client.messages.create({ model: MODEL, max_tokens: 8, messages: history, tools, tool_choice: { type: 'none' } }).withResponse();
    expect(data.stop_reason).toBe('max_tokens');
    const job = (await call(f.url, `/v1/jobs/${response.headers.get('x-fabric-job-id')}`)).json;
    expect(job.input.messages.slice(-2)).toEqual([
      { role: 'assistant', content: '', tool_calls: [{ id: use.id, type: 'function', function: { name: use.name, arguments: JSON.stringify(use.input) } }] },
      { role: 'tool', content: '11 degrees', tool_call_id: use.id },
    ]);
    const stream = client.messages.stream({ model: MODEL, max_tokens: 8, messages: history, tools, tool_choice: { type: 'none' }, ...sampling(0) });
    let text = '';
    for await (const ev of stream) if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
    const final = await stream.finalMessage();
    expect(final.content).toHaveLength(1);
    expect(text).toBe((final.content[0] as Anthropic.TextBlock).text);
  });
});

describe('Ollama /api/chat with tools on the llama.cpp engine', () => {
  it('serves the model\'s own choice where the engine has automatic tool choice, else a 400 naming the engine', async () => {
    const body = { model: MODEL, stream: false, messages: [{ role: 'user', content: 'weather?' }], tools: [{ type: 'function', function: { name: 'get_weather', parameters: weather } }], options: { num_predict: 60 } };
    const r = await call(f.url, '/api/chat', { body });
    if (engineFeatures('llama-cpp').autoToolCall) {
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ done: true, message: { role: 'assistant' } });
      // The model chooses: text, or calls whose arguments are objects naming the tool.
      const calls: { function: { name: string; arguments: unknown } }[] = r.json.message.tool_calls ?? [];
      expect(calls.length > 0 || r.json.message.content !== '').toBe(true);
      for (const c of calls) {
        expect(c.function.name).toBe('get_weather');
        expect(typeof c.function.arguments).toBe('object');
      }
    } else {
      expect(r.status).toBe(400);
      expect(r.json.error).toMatch(/automatic tool choice .* llama-cpp engine/);
    }
  });
});

describe('logprobs on the llama.cpp engine (OpenAI and Ollama shapes)', () => {
  it('answers chat logprobs whose tokens add up to the text, with top_logprobs alternatives, streamed or not', async () => {
    const openai = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const body = { model: MODEL, messages: [{ role: 'user' as const, content: 'hello' }], max_tokens: 6, logprobs: true, top_logprobs: 2, seed: 3 };
    const r = await openai.chat.completions.create(body);
    const content = r.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(r.usage!.completion_tokens);
    expect(content.map((c) => c.token).join('')).toBe(r.choices[0]!.message.content);
    for (const c of content) {
      expect(c.logprob).toBeLessThanOrEqual(0);
      expect(c.bytes).toEqual([...Buffer.from(c.token)]);
      expect(c.top_logprobs).toHaveLength(2);
    }
    const streamed: OpenAI.Chat.Completions.ChatCompletionTokenLogprob[] = [];
    let text = '';
    for await (const c of await openai.chat.completions.create({ ...body, stream: true })) {
      streamed.push(...(c.choices[0]?.logprobs?.content ?? []));
      text += c.choices[0]?.delta.content ?? '';
    }
    expect(streamed.map((c) => c.token).join('')).toBe(text);
    const ollama = await call(f.url, '/api/generate', { body: { model: MODEL, prompt: 'hello', stream: false, logprobs: true, options: { num_predict: 4 } } });
    expect(ollama.json.logprobs.map((l: { token: string }) => l.token).join('')).toBe(ollama.json.response);
  });
});
