/**
 * The Responses API through the official `openai` client against a fabric running the real
 * llama.cpp engine with the random-weight demo model: text, the stream's semantic events,
 * forced function calls judged by ajv, chaining with previous_response_id, structured output.
 * Background responses, resumption, storage and tenants: test/responses-store.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, log, startFabric, type TestFabric } from './support/fabric.ts';
import { addDemoChatWorker, demoModelsDir, removeDir } from './support/llama-worker.ts';
import { checkEventOrder, type StreamEvent } from './support/responses-events.ts';
import { schemaErrors } from './support/schema-validator.ts';

const MODEL = 'demo-chat';
const TRIES = Number(process.env.TOOL_TRIES ?? 100);

const weather = {
  type: 'object',
  properties: {
    city: { type: 'string', maxLength: 12 },
    unit: { enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', minimum: 1, maximum: 14 },
    note: { anyOf: [{ type: 'string', maxLength: 10 }, { type: 'null' }] },
  },
  required: ['city', 'unit', 'days', 'note'],
  additionalProperties: false,
};
const lookup = { type: 'object', properties: { id: { type: 'integer', minimum: 0, maximum: 999 } }, required: ['id'], additionalProperties: false };
const tools: OpenAI.Responses.FunctionTool[] = [
  { type: 'function', name: 'get_weather', description: 'Weather forecast', parameters: weather, strict: true },
  { type: 'function', name: 'lookup', parameters: lookup, strict: true },
];
const SCHEMAS: Record<string, Record<string, unknown>> = { get_weather: weather, lookup };

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

function judge(name: string, args: string): string | null {
  const schema = SCHEMAS[name];
  if (!schema) return `unknown tool ${name}`;
  try {
    return schemaErrors(schema, JSON.parse(args));
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
}

async function badRequest(p: Promise<unknown>) {
  const err = await p.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(OpenAI.BadRequestError);
  return err as InstanceType<typeof OpenAI.BadRequestError>;
}

const calls = (r: OpenAI.Responses.Response) => r.output.filter((o): o is OpenAI.Responses.ResponseFunctionToolCall => o.type === 'function_call');

describe('Responses API on the llama.cpp engine', () => {
  it('answers a string input with a message whose text is output_text, naming its job', async () => {
    const { data: r, response } = await client.responses.create({ model: MODEL, input: 'Say hello', instructions: 'Be brief', max_output_tokens: 8, metadata: { run: 'one' }, temperature: 0.5 }).withResponse();
    expect(response.headers.get('x-fabric-job-id')).toBe(r.id.replace(/^resp_/, ''));
    expect(r.object).toBe('response');
    expect(['completed', 'incomplete']).toContain(r.status);
    expect(r.output[0]?.type).toBe('message');
    expect(r.output_text.length).toBeGreaterThan(0);
    expect(r.instructions).toBe('Be brief');
    expect(r.metadata).toEqual({ run: 'one' });
    expect(r.temperature).toBe(0.5);
    expect(r.usage!.output_tokens).toBeGreaterThan(0);
    expect(r.usage!.total_tokens).toBe(r.usage!.input_tokens + r.usage!.output_tokens);
    if (r.status === 'incomplete') expect(r.incomplete_details?.reason).toBe('max_output_tokens');
    // The job ran the instructions as a system message before the input.
    const job = await call(f.url, `/v1/jobs/${response.headers.get('x-fabric-job-id')}`);
    expect(job.json.input.messages.slice(0, 2)).toEqual([{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'Say hello' }]);
  });

  it('streams the semantic events in order, numbered, with deltas adding up to the final text', async () => {
    const stream = await client.responses.create({ model: MODEL, input: [{ role: 'user', content: [{ type: 'input_text', text: 'Tell a story' }] }], max_output_tokens: 24, stream: true });
    const events: StreamEvent[] = [];
    for await (const ev of stream) events.push(ev as unknown as StreamEvent);
    const { text, final } = checkEventOrder(events);
    expect(events.filter((e) => e.type === 'response.output_text.delta').length).toBeGreaterThan(1);
    expect(final.status).toBe('incomplete');
    expect((final as { incomplete_details: { reason: string } }).incomplete_details.reason).toBe('max_output_tokens');
    const message = (final.output as { type: string; content: { text: string }[] }[]).find((o) => o.type === 'message')!;
    expect(text).toBe(message.content[0]!.text);
    // A message cut by max_output_tokens reads incomplete, in the stream and in the stored response.
    expect((message as unknown as { status: string }).status).toBe('incomplete');
    const itemDone = events.filter((e) => e.type === 'response.output_item.done').at(-1) as unknown as { item: { status: string } };
    expect(itemDone.item.status).toBe('incomplete');
    console.log(`responses stream: ${events.length} events, ${events.filter((e) => e.type === 'response.output_text.delta').length} text deltas, ${text.length} chars`);
    // What the stream ended with is what is stored.
    const again = await client.responses.retrieve(final.id as string);
    expect(again.output_text).toBe(text);
    expect(again.output.find((o) => o.type === 'message')?.status).toBe('incomplete');
  }, 60_000);

  it('answers the real engine\'s log probabilities on the output text when include asks for them', async () => {
    const r = await client.responses.create({ model: MODEL, input: 'Say hello', max_output_tokens: 12, include: ['message.output_text.logprobs'], top_logprobs: 3 });
    const text = r.output.find((o) => o.type === 'message')!.content[0] as OpenAI.Responses.ResponseOutputText;
    expect(text.logprobs!.length).toBe(r.usage!.output_tokens);
    expect(text.logprobs!.map((l) => l.token).join('')).toBe(text.text);
    for (const l of text.logprobs!) {
      expect(l.logprob).toBeLessThanOrEqual(0);
      // At most 3: the alternatives are the candidates left after top-k / top-p / min-p, best first.
      expect(l.top_logprobs.length).toBeGreaterThanOrEqual(1);
      expect(l.top_logprobs.length).toBeLessThanOrEqual(3);
      expect(l.top_logprobs.map((t) => t.logprob)).toEqual([...l.top_logprobs.map((t) => t.logprob)].sort((a, b) => b - a));
    }
  });

  it('a named function: every call validates against its parameters schema', async () => {
    const started = Date.now();
    let valid = 0;
    const failures: string[] = [];
    const distinct = new Set<string>();
    for (let i = 1; i <= TRIES; i++) {
      try {
        const r = await client.responses.create({ model: MODEL, input: 'What is the weather in Paris?', tools, tool_choice: { type: 'function', name: 'get_weather' }, max_output_tokens: 120, temperature: i % 2 === 0 ? 1.5 : 0.8, store: false });
        expect(r.status).toBe('completed');
        const c = calls(r);
        expect(c).toHaveLength(1);
        expect(r.output.some((o) => o.type === 'message')).toBe(false);
        expect(c[0]!.call_id).toMatch(/^call_/);
        expect(c[0]!.name).toBe('get_weather');
        distinct.add(c[0]!.arguments);
        const errors = judge(c[0]!.name, c[0]!.arguments);
        if (errors === null) valid++;
        else failures.push(`try ${i}: ${errors}: ${c[0]!.arguments}`);
      } catch (err) {
        failures.push(`try ${i}: ${(err as Error).message}`);
      }
    }
    console.log(`responses forced function calls valid ${valid}/${TRIES} (${distinct.size} distinct) in ${Date.now() - started} ms`);
    expect(failures).toEqual([]);
    expect(distinct.size).toBeGreaterThan(1);
  }, 400_000);

  it('"required" streams the call as function_call_arguments deltas that reassemble into a valid call', async () => {
    const stream = await client.responses.create({ model: MODEL, input: 'Look something up', tools, tool_choice: 'required', max_output_tokens: 120, stream: true });
    const events: StreamEvent[] = [];
    for await (const ev of stream) events.push(ev as unknown as StreamEvent);
    const { final } = checkEventOrder(events);
    expect(final.status).toBe('completed');
    const added = events.find((e) => e.type === 'response.output_item.added')!;
    const item = added.item as { type: string; name: string; call_id: string; id: string };
    expect(item.type).toBe('function_call');
    const args = events.filter((e) => e.type === 'response.function_call_arguments.delta').map((e) => e.delta as string).join('');
    const done = events.find((e) => e.type === 'response.function_call_arguments.done')!;
    expect(done.arguments).toBe(args);
    expect(done.item_id).toBe(item.id);
    expect(events.filter((e) => e.type === 'response.output_text.delta')).toEqual([]);
    expect(judge(item.name, args)).toBeNull();
    const last = (final.output as { type: string; arguments: string; call_id: string }[]).at(-1)!;
    expect(last).toMatchObject({ type: 'function_call', arguments: args, call_id: item.call_id });
  }, 60_000);

  it('auto tool choice streams whatever the model chose as items in the documented order, ending as stored', async () => {
    const kinds = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const stream = await client.responses.create({ model: MODEL, input: 'Weather or lookup?', tools, max_output_tokens: 60, temperature: 1.2, stream: true });
      const events: StreamEvent[] = [];
      for await (const ev of stream) events.push(ev as unknown as StreamEvent);
      const { final } = checkEventOrder(events);
      const done = events.filter((e) => e.type === 'response.output_item.done').map((e) => e.item as { type: string });
      done.forEach((item) => kinds.add(item.type));
      expect(done.every((item) => item.type === 'message' || item.type === 'function_call')).toBe(true);
      const stored = await client.responses.retrieve(final.id as string);
      expect(stored.output.map((o) => o.type)).toEqual((final.output as { type: string }[]).map((o) => o.type));
    }
    console.log(`responses auto tool choice produced ${[...kinds].join(', ')}`);
  }, 60_000);

  it('chains a function call and its output with previous_response_id', async () => {
    const first = await client.responses.create({ model: MODEL, input: 'Weather in Oslo?', tools, tool_choice: { type: 'function', name: 'get_weather' }, max_output_tokens: 120 });
    const c = calls(first)[0]!;
    const { data: second, response } = await client.responses
      .create({ model: MODEL, previous_response_id: first.id, input: [{ type: 'function_call_output', call_id: c.call_id, output: '{"temp": 21}' }], max_output_tokens: 6 })
      .withResponse();
    expect(second.previous_response_id).toBe(first.id);
    expect(second.output[0]?.type).toBe('message');
    const job = await call(f.url, `/v1/jobs/${response.headers.get('x-fabric-job-id')}`);
    expect(job.json.input.messages).toEqual([
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: '', tool_calls: [{ id: c.call_id, type: 'function', function: { name: 'get_weather', arguments: c.arguments } }] },
      { role: 'tool', content: '{"temp": 21}', tool_call_id: c.call_id },
    ]);
    const items = await client.responses.inputItems.list(second.id);
    expect(items.data.map((i) => i.type)).toEqual(['function_call_output']);
    // A third turn sees all of it, the second answer included.
    const third = await client.responses.create({ model: MODEL, previous_response_id: second.id, input: 'Thanks', max_output_tokens: 4 }).withResponse();
    const job3 = await call(f.url, `/v1/jobs/${third.response.headers.get('x-fabric-job-id')}`);
    expect(job3.json.input.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'user']);
    expect(job3.json.input.messages[3].content).toBe(second.output_text);
  }, 60_000);

  it('text.format json_schema: every output validates against the schema', async () => {
    const schema = { type: 'object', properties: { name: { type: 'string', maxLength: 8 }, age: { type: 'integer', minimum: 0, maximum: 120 }, tags: { type: 'array', items: { enum: ['a', 'b'] }, maxItems: 3 } }, required: ['name', 'age', 'tags'], additionalProperties: false };
    let valid = 0;
    for (let i = 0; i < 5; i++) {
      const r = await client.responses.create({ model: MODEL, input: 'A person', text: { format: { type: 'json_schema', name: 'person', schema, strict: true } }, max_output_tokens: 120, temperature: 1.2, store: false });
      expect(r.status).toBe('completed');
      expect(r.text?.format).toMatchObject({ type: 'json_schema', name: 'person' });
      expect(schemaErrors(schema, JSON.parse(r.output_text))).toBeNull();
      valid++;
    }
    console.log(`responses json_schema outputs valid ${valid}/5`);
  }, 120_000);

  it('runs the README example', async () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const code = /## Responses API\n[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)![1]!;
    const body = code.replace(/^import .*\n/m, '').replace('http://localhost:8080/v1', `${f.url}/v1`).replace('console.log(', 'return ((...a) => a)(');
    const run = new (Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (o: typeof OpenAI) => Promise<unknown>)('OpenAI', body);
    const [args, text] = (await run(OpenAI)) as unknown as [string, string];
    expect(typeof JSON.parse(args).city).toBe('string');
    expect(typeof text).toBe('string');
  });

  it('refuses what the engine cannot serve, naming the Responses parameter', async () => {
    // Automatic tool choice is served on the llama.cpp engine: the model answers in text or calls.
    const auto = await client.responses.create({ model: MODEL, input: 'x', tools, max_output_tokens: 4, store: false });
    expect(auto.output.length).toBeGreaterThan(0);
    expect(auto.output.every((o) => o.type === 'message' || o.type === 'function_call')).toBe(true);
    const think = await badRequest(client.responses.create({ model: MODEL, input: 'x', reasoning: { effort: 'high' } }));
    expect(think.param).toBe('reasoning.effort');
    expect(think.message).toMatch(/llama-cpp/);
    const schema = await badRequest(client.responses.create({ model: MODEL, input: 'x', text: { format: { type: 'json_schema', name: 'z', schema: { type: 'object', not: { required: ['x'] } } } } }));
    expect(schema.param).toBe('text.format');
  });
});
