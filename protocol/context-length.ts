/**
 * Whether a prompt certainly cannot fit a model's context, decided without a tokenizer: no
 * tokenizer the fabric serves makes a token of more than MAX_BYTES_PER_TOKEN bytes of text, so
 * bytes / MAX_BYTES_PER_TOKEN is a lower bound of the prompt's tokens. A prompt whose lower bound
 * is over the context is refused at submit (`context_length_exceeded`); one that only might not
 * fit is left to the engine, whose refusal (EngineError `context_length_exceeded`) ends the job
 * failed with the same code, which every route answers as the same 400.
 *
 * The context checked is the one the model is loaded with (catalog `contextLength`), never the
 * file's trained maximum. Workers may run one model with different contexts (each its own
 * FABRIC_CONTEXT_SIZE); the catalog hash holds the last publisher's, so the check takes the
 * largest of it and of every resident copy's: a prompt any worker could run is admitted, and
 * a worker with a smaller context refuses it with the same code (the refusal is final, the
 * job is not retried elsewhere).
 */
import type { Fleet } from './fleet.ts';
import type { JobInput } from './job.ts';

export const MAX_BYTES_PER_TOKEN = 32;

/**
 * A lower bound of the tokens of the prompt, system prompt and messages, with the tool
 * definitions and the history's tool calls: every engine renders those into the prompt too.
 */
export function minPromptTokens(input: JobInput): number {
  let bytes = 0;
  const texts = [input.prompt, input.system, ...(input.messages ?? []).flatMap((m) => [m.content, ...(m.tool_calls ?? []).map((c) => c.function.arguments)])];
  if (input.tools?.length && input.tool_choice !== 'none') texts.push(JSON.stringify(input.tools));
  for (const text of texts) if (text) bytes += Buffer.byteLength(text);
  return Math.ceil(bytes / MAX_BYTES_PER_TOKEN);
}

/** The largest context any worker advertises or runs `model` with; undefined when none says. */
export function servingContext(fleet: Fleet, model: string): number | undefined {
  let best = fleet.catalog.get(model)?.contextLength ?? undefined;
  for (const w of fleet.workers) {
    for (const m of w.resident) if (m.model === model && m.contextLength && m.contextLength > (best ?? 0)) best = m.contextLength;
  }
  return best;
}
