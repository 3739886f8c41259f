/**
 * What a tool call costs on the embedded llama.cpp engine: the same chat on the same demo model
 * (a) without tools, (b) as a forced call (`tool_choice` required: the call schema compiled to a
 * grammar, the generated JSON read incrementally into call events, as the job runner does), and
 * (c) with tools the model may call (auto: node-llama-cpp's LlamaChat with the tools documented
 * in the prompt). The forced call ends when its JSON is complete; (a) and (c) of each seed are
 * given exactly the tokens (b) took, so the jobs side by side generate the same number of tokens.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChatMessage } from '../protocol/job.ts';
import type { Logger } from '../protocol/logger.ts';
import { ToolCallTextParser } from '../protocol/tool-call-text.ts';
import { forcedCallSchema, toolCallId, withToolsPrompt, type Tool } from '../protocol/tools.ts';
import { ensureDemoModels } from '../worker/engines/llama-cpp/demo-models.ts';
import { LlamaCppEngine } from '../worker/engines/llama-cpp/llama-cpp-engine.ts';
import type { GenerateRequest, GenerateResult } from '../worker/engines/port/engine.ts';
import { summarize } from './stats.ts';

const MODEL = 'demo-chat';
const WARMUP = 2;
const TOOL: Tool = {
  name: 'get_weather',
  description: 'Weather forecast for a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string', maxLength: 24 }, unit: { enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer', minimum: 1, maximum: 14 } },
    required: ['city', 'unit', 'days'],
    additionalProperties: false,
  },
};
const MESSAGES: ChatMessage[] = [{ role: 'user', content: 'What is the weather in Paris this week?' }];

export interface ToolCallRow {
  label: string;
  jobs: number;
  promptTokens: number;
  completionTokensMean: number;
  msPerJobP50: number;
  msPerJobMean: number;
  msPerToken: number;
  /** Time to the first token (prompt evaluation), p50. */
  promptEvalMsP50: number;
  /** Generation alone: eval time over tokens generated after the first. */
  evalMsPerToken: number;
}

export interface ToolCallResult {
  model: string;
  maxTokens: number;
  /** Forced calls whose JSON completed into a call (of `jobs`). */
  callsComplete: number;
  rows: ToolCallRow[];
}

interface Sample {
  ms: number;
  gen: GenerateResult;
}

async function timed(engine: LlamaCppEngine, req: Omit<GenerateRequest, 'signal' | 'onToken'>, onToken: (t: string) => void = () => undefined): Promise<Sample> {
  const started = performance.now();
  const gen = await engine.generate({ ...req, signal: new AbortController().signal, onToken });
  return { ms: performance.now() - started, gen };
}

function row(label: string, samples: Sample[]): ToolCallRow {
  const tokens = samples.reduce((s, x) => s + x.gen.completionTokens, 0);
  const ms = samples.map((x) => x.ms);
  const total = ms.reduce((s, x) => s + x, 0);
  return {
    label,
    jobs: samples.length,
    promptTokens: samples[0]?.gen.promptTokens ?? 0,
    completionTokensMean: tokens / Math.max(1, samples.length),
    msPerJobP50: summarize(ms).p50Ms,
    msPerJobMean: total / Math.max(1, samples.length),
    msPerToken: total / Math.max(1, tokens),
    promptEvalMsP50: summarize(samples.map((x) => x.gen.promptEvalMs)).p50Ms,
    evalMsPerToken: samples.reduce((s, x) => s + x.gen.evalMs, 0) / Math.max(1, tokens - samples.length),
  };
}

export async function toolCallPhase(o: { jobs: number; maxTokens: number; log: Logger }): Promise<ToolCallResult> {
  const dir = await mkdtemp(join(tmpdir(), 'fabric-bench-tools-'));
  const engine = new LlamaCppEngine({ modelsDir: dir, threads: 1, contextSize: 1024, slotsPerModel: 1 }, { logger: o.log });
  try {
    await ensureDemoModels(dir);
    await engine.load(MODEL);
    const plain: Sample[] = [];
    const forced: Sample[] = [];
    const auto: Sample[] = [];
    let callsComplete = 0;
    for (let i = 1 - WARMUP; i <= o.jobs; i++) {
      const seed = i + WARMUP;
      const parser = new ToolCallTextParser({ index: 0, id: toolCallId() });
      const f = await timed(
        engine,
        { model: MODEL, task: 'chat', messages: withToolsPrompt(MESSAGES, [TOOL]), format: forcedCallSchema([TOOL]), options: { num_predict: o.maxTokens, seed } },
        (t) => void parser.push(t),
      );
      const options = { num_predict: f.gen.completionTokens, seed };
      const p = await timed(engine, { model: MODEL, task: 'chat', messages: MESSAGES, options });
      const a = await timed(engine, { model: MODEL, task: 'chat', messages: MESSAGES, tools: [TOOL], options });
      if (i < 1) continue;
      if (parser.call()) callsComplete++;
      forced.push(f);
      plain.push(p);
      auto.push(a);
    }
    return {
      model: MODEL,
      maxTokens: o.maxTokens,
      callsComplete,
      rows: [row('chat without tools', plain), row('forced tool call (grammar)', forced), row('auto tools (LlamaChat, tools in the prompt)', auto)],
    };
  } finally {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export function toolCallSection(r: ToolCallResult, rowOut: (cells: (string | number)[]) => void, lines: string[]): void {
  lines.push(`## Tool calls on the llama.cpp engine (${r.model}, max ${r.maxTokens} tokens, ${r.rows[0]?.jobs ?? 0} jobs each, one at a time)`, '');
  rowOut(['job', 'prompt tokens', 'completion tokens/job', 'ms/job p50', 'ms/job mean', 'ms/token (whole job)', 'prompt eval ms p50', 'generation ms/token', 'generation vs without tools']);
  rowOut(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']);
  const base = r.rows[0]?.evalMsPerToken ?? Number.NaN;
  for (const x of r.rows) {
    rowOut([x.label, x.promptTokens, x.completionTokensMean.toFixed(1), x.msPerJobP50.toFixed(1), x.msPerJobMean.toFixed(1), x.msPerToken.toFixed(2), x.promptEvalMsP50.toFixed(1), x.evalMsPerToken.toFixed(2), `${(x.evalMsPerToken / base).toFixed(2)}x`]);
  }
  lines.push(
    '',
    `Each seed runs the forced call first (it ends when its JSON is complete: ${r.callsComplete} of ${r.rows[1]?.jobs ?? 0} completed), then the other two jobs with exactly the tokens it took; ms/token (whole job) divides the job's time, prompt included, by the tokens generated; generation ms/token is the time after the first token over the tokens after it, which is where the grammar's cost shows (the prompts differ: the tools are described in them). The engine is called directly (no queue), on one thread.`,
    '',
  );
}
