/**
 * Forced tool calls through the OpenAI SDK against a fabric with the real llama.cpp engine: the
 * demo model has random weights, so only the grammar compiled from the tool's parameters makes
 * its calls valid; every call's arguments are judged by ajv.
 */
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeDelta, type DeltaEvent } from '../protocol/conversation.ts';
import { JobStore } from '../store/job-store.ts';
import { call, log, startFabric, type TestFabric } from './support/fabric.ts';
import { addDemoChatWorker, demoModelsDir, removeDir } from './support/llama-worker.ts';
import { schemaErrors } from './support/schema-validator.ts';

const MODEL = 'demo-chat';
const TRIES = Number(process.env.TOOL_TRIES ?? 100);

const weather = {
  type: 'object',
  properties: {
    location: {
      type: 'object',
      properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['celsius', 'fahrenheit'] } },
      required: ['city', 'unit'],
      additionalProperties: false,
    },
    days: { type: 'integer', minimum: 1, maximum: 14 },
    note: { anyOf: [{ type: 'string', maxLength: 10 }, { type: 'null' }] },
  },
  required: ['location', 'days', 'note'],
  additionalProperties: false,
};
const lookup = {
  type: 'object',
  properties: { id: { type: 'integer', minimum: 0, maximum: 999 }, exact: { type: 'boolean' } },
  required: ['id', 'exact'],
  additionalProperties: false,
};
const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather forecast', parameters: weather } },
  { type: 'function', function: { name: 'lookup', parameters: lookup } },
];
const SCHEMAS: Record<string, Record<string, unknown>> = { get_weather: weather, lookup };
const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];

let f: TestFabric;
let dir: string;
let client: OpenAI;
beforeAll(async () => {
  dir = await demoModelsDir();
  f = await startFabric();
  await addDemoChatWorker(f, dir);
  client = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}, 60_000);
afterAll(async () => {
  await f?.close();
  removeDir(dir);
});

function judge(c: { function: { name: string; arguments: string } }): string | null {
  const schema = SCHEMAS[c.function.name];
  if (!schema) return `unknown tool ${c.function.name}`;
  try {
    return schemaErrors(schema, JSON.parse(c.function.arguments));
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
}

async function badRequest(p: Promise<unknown>) {
  const err = await p.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(OpenAI.BadRequestError);
  return err as InstanceType<typeof OpenAI.BadRequestError>;
}

describe('forced tool calls on the llama.cpp engine (OpenAI chat)', () => {
  it('a named function: every call validates against its parameters schema', async () => {
    const started = Date.now();
    let valid = 0;
    const failures: string[] = [];
    const distinct = new Set<string>();
    for (let seed = 1; seed <= TRIES; seed++) {
      try {
        const r = await client.chat.completions.create({
          model: MODEL,
          messages,
          tools,
          tool_choice: { type: 'function', function: { name: 'get_weather' } },
          parallel_tool_calls: false,
          max_tokens: 120,
          seed,
          temperature: seed % 2 === 0 ? 1.5 : 0.8,
        });
        const choice = r.choices[0]!;
        expect(choice.finish_reason).toBe('tool_calls');
        expect(choice.message.content).toBeNull();
        const calls = choice.message.tool_calls ?? [];
        expect(calls).toHaveLength(1);
        const c = calls[0] as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
        expect(c.type).toBe('function');
        expect(c.id).toMatch(/^call_/);
        expect(c.function.name).toBe('get_weather');
        distinct.add(c.function.arguments);
        const errors = judge(c);
        if (errors === null) valid++;
        else failures.push(`seed ${seed}: ${errors}: ${c.function.arguments}`);
      } catch (err) {
        failures.push(`seed ${seed}: ${(err as Error).message}`);
      }
    }
    console.log(`forced tool calls valid ${valid}/${TRIES} (${distinct.size} distinct) in ${Date.now() - started} ms`);
    expect(failures).toEqual([]);
    expect(distinct.size).toBeGreaterThan(1);
  }, 300_000);

  it('"required" with two tools: each call is one of them, its arguments valid for that one', async () => {
    const names = new Set<string>();
    for (let seed = 1; seed <= 12; seed++) {
      const r = await client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: 'required', max_tokens: 120, seed, temperature: 1.5 });
      const c = r.choices[0]!.message.tool_calls![0] as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
      names.add(c.function.name);
      expect(judge(c)).toBeNull();
      expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    }
    console.log(`"required" chose ${[...names].join(', ')}`);
  }, 120_000);

  it('streams the call as tool_calls deltas that reassemble into a valid call', async () => {
    const stream = await client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 120, seed: 7, stream: true });
    let id = '';
    let name = '';
    let args = '';
    let finish: string | null = null;
    let pieces = 0;
    for await (const chunk of stream) {
      const ch = chunk.choices[0];
      if (!ch) continue;
      expect(ch.delta.content ?? '').toBe('');
      for (const t of ch.delta.tool_calls ?? []) {
        expect(t.index).toBe(0);
        if (t.id) id = t.id;
        if (t.function?.name) name += t.function.name;
        if (t.function?.arguments) {
          args += t.function.arguments;
          pieces++;
        }
      }
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    expect(finish).toBe('tool_calls');
    expect(id).toMatch(/^call_/);
    expect(name).toBe('get_weather');
    expect(pieces).toBeGreaterThan(1);
    expect(judge({ function: { name, arguments: args } })).toBeNull();
    // The same request without streaming gives the same call (same seed).
    const r = await client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 120, seed: 7 });
    expect((r.choices[0]!.message.tool_calls![0] as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall).function.arguments).toBe(args);
  }, 60_000);

  it('a call cut short by max_tokens is a 400 asking for more tokens, never an invalid call', async () => {
    const e = await badRequest(client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 3 }));
    expect(e.message).toMatch(/cut short.*max_tokens/);
    // The Responses API names its own limit field.
    const r = await badRequest(client.responses.create({ model: MODEL, input: 'Weather?', tools: [{ type: 'function', name: 'get_weather', parameters: weather, strict: true }], tool_choice: 'required', max_output_tokens: 3 }));
    expect(r.message).toMatch(/cut short.*max_output_tokens/);
  });

  it('refuses a parameters schema the compiler cannot enforce with a 400 naming the keyword', async () => {
    const bad = [{ type: 'function' as const, function: { name: 'zip', parameters: { type: 'object', properties: { zip: { type: 'string', pattern: '^(?=\\d)\\d{5}$' } }, not: { required: ['x'] } } } }];
    const e = await badRequest(client.chat.completions.create({ model: MODEL, messages, tools: bad, tool_choice: 'required' }));
    expect(e.param).toBe('tools');
    expect(e.message).toMatch(/keyword "/);
  });

  it('"auto" (and tools without tool_choice) lets the model answer in text or with calls of its own', async () => {
    for (const tool_choice of ['auto' as const, undefined]) {
      const r = await client.chat.completions.create({ model: MODEL, messages, tools, ...(tool_choice ? { tool_choice } : {}), max_tokens: 8, seed: 2 });
      const choice = r.choices[0]!;
      const calls = choice.message.tool_calls ?? [];
      // The demo model rarely uses its wrapper's call syntax; either way the answer is consistent.
      if (calls.length === 0) {
        expect(typeof choice.message.content).toBe('string');
        expect(choice.finish_reason).toBe('length');
        expect(r.usage?.completion_tokens).toBe(8);
      } else {
        expect(choice.finish_reason).toBe('tool_calls');
        for (const c of calls) expect(judge(c as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall)).toBeNull();
      }
    }
  });

  it('"none" answers in text', async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: 'none', max_tokens: 4 });
    expect(r.choices[0]!.message.tool_calls).toBeUndefined();
    expect(typeof r.choices[0]!.message.content).toBe('string');
    expect(r.choices[0]!.finish_reason).not.toBe('tool_calls');
  });

  it('accepts a history with an assistant tool call and its tool result', async () => {
    const history: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
      ...messages,
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":{"city":"Paris","unit":"celsius"},"days":1,"note":null}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp": 21}' },
    ];
    const text = await client.chat.completions.create({ model: MODEL, messages: history, max_tokens: 4 });
    expect(typeof text.choices[0]!.message.content).toBe('string');
    const again = await client.chat.completions.create({ model: MODEL, messages: history, tools, tool_choice: 'required', max_tokens: 120, seed: 3 });
    expect(judge(again.choices[0]!.message.tool_calls![0] as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall)).toBeNull();
    const e = await badRequest(client.chat.completions.create({ model: MODEL, messages: [...messages, { role: 'tool', content: 'x' } as never] }));
    expect(e.param).toBe('messages.1.tool_call_id');
  });

  it('the job API shows the call in output.message.tool_calls', async () => {
    const run = await call(f.url, '/v1/run', {
      body: { model: MODEL, input: { messages: [{ role: 'user', content: 'Look up 7' }], tools: [{ name: 'lookup', parameters: lookup }], tool_choice: { name: 'lookup' }, options: { num_predict: 60, seed: 1 } } },
    });
    expect(run.status).toBe(200);
    expect(run.json.status).toBe('succeeded');
    expect(run.json.output.done_reason).toBe('tool_calls');
    const [c] = run.json.output.message.tool_calls;
    expect(c).toMatchObject({ type: 'function', function: { name: 'lookup' } });
    expect(schemaErrors(lookup, JSON.parse(c.function.arguments))).toBeNull();
    const auto = await call(f.url, '/v1/run', { body: { model: MODEL, input: { messages, tools: [{ name: 'lookup', parameters: lookup }], options: { num_predict: 6, seed: 1 } } } });
    expect(auto.status).toBe(200);
    expect(auto.json.status).toBe('succeeded');
    expect(auto.json.usage.prompt_tokens).toBeGreaterThan(100); // the tools are documented in the prompt
    const bad = await call(f.url, '/v1/jobs', { body: { model: MODEL, input: { messages, tools: [{ name: 'z', parameters: { type: 'object', not: {} } }], tool_choice: 'required' } } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/keyword "not"/) });
  });
});

describe('the job API on the llama.cpp engine', () => {
  it('returns logprobs with top alternatives in the output', async () => {
    const run = await call(f.url, '/v1/run', { body: { model: MODEL, input: { prompt: 'The queue', logprobs: true, top_logprobs: 2, options: { num_predict: 6, seed: 2, top_p: 1 } } } });
    expect(run.status).toBe(200);
    const lps = run.json.output.logprobs as { token: string; logprob: number; top_logprobs: unknown[] }[];
    expect(lps).toHaveLength(6);
    expect(lps.map((l) => l.token).join('')).toBe(run.json.output.response);
    expect(lps.every((l) => l.logprob <= 0 && l.top_logprobs.length === 2)).toBe(true);
  });

  it('streams a forced call as call events, no text, and every call validates against the schema', async () => {
    const store = new JobStore(f.redis, f.keys);
    const started = Date.now();
    let valid = 0;
    const failures: string[] = [];
    for (let seed = 1; seed <= TRIES; seed++) {
      const run = await call(f.url, '/v1/run', {
        body: { model: MODEL, input: { messages, tools: [{ name: 'get_weather', parameters: weather }], tool_choice: 'required', options: { num_predict: 120, seed, temperature: seed % 2 === 0 ? 1.5 : 0.8 } } },
      });
      if (run.status !== 200 || run.json.status !== 'succeeded') {
        failures.push(`seed ${seed}: ${run.status} ${JSON.stringify(run.json.error ?? run.json)}`);
        continue;
      }
      const c = run.json.output.message.tool_calls[0];
      const errors = judge(c);
      const events = await store.readEvents(run.json.id);
      const deltas = events.filter((e) => e.type === 'delta').map((e) => decodeDelta(e.data)).filter((d): d is DeltaEvent => d !== null);
      const streamed = deltas.flatMap((d) => (d.type === 'tool_call_delta' ? [d.arguments] : [])).join('');
      expect(events.filter((e) => e.type === 'token')).toEqual([]);
      expect(deltas[0]).toEqual({ type: 'tool_call_start', index: 0, id: c.id, name: 'get_weather' });
      expect(deltas.at(-1)).toEqual({ type: 'tool_call_end', index: 0 });
      expect(streamed).toBe(c.function.arguments);
      expect(run.json.output.done_reason).toBe('tool_calls');
      if (errors === null) valid++;
      else failures.push(`seed ${seed}: ${errors}: ${c.function.arguments}`);
    }
    console.log(`job API forced tool calls valid ${valid}/${TRIES} in ${Date.now() - started} ms`);
    expect(failures).toEqual([]);
  }, 300_000);
});
