/**
 * The one unit of work every phase measures: a chat job with num_predict 4 on a zero-latency
 * FakeEngine (no load time, no token delay), so what remains is pure fabric/queue overhead.
 */
import { FakeEngine } from '../worker/engines/fake-engine.ts';
import type { GenerateRequest, GenerateResult } from '../worker/engines/port/engine.ts';

export const MODEL = 'fake-small:latest';

/** The HTTP body of `POST /v1/run` and `POST /v1/jobs`. */
export const SUBMIT_BODY = {
  model: 'fake-small',
  task: 'chat',
  input: { messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 4 } },
} as const;

export const SUBMIT_JSON = JSON.stringify(SUBMIT_BODY);

/** A zero-latency engine with `slots` parallel generations per model (or `tokensPerSecond` paced). */
export function zeroLatencyEngine(slots: number, tokensPerSecond = 0): FakeEngine {
  return new FakeEngine({ tokensPerSecond, loadMs: 0, slotsPerModel: slots });
}

/** The same request the fabric's job runner makes for SUBMIT_BODY (tokens go nowhere here). */
export function chatRequest(): GenerateRequest {
  return {
    model: MODEL,
    task: 'chat',
    messages: [{ role: 'user', content: 'hi' }],
    options: { num_predict: 4 },
    signal: new AbortController().signal,
    onToken: () => undefined,
  };
}

/** A loaded zero-latency engine, ready for direct calls. */
export async function loadedEngine(slots: number): Promise<FakeEngine> {
  const engine = zeroLatencyEngine(slots);
  await engine.load(MODEL);
  return engine;
}

export function generateOnce(engine: FakeEngine): Promise<GenerateResult> {
  return engine.generate(chatRequest());
}
