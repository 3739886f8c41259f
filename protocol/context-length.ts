/**
 * Whether a prompt certainly cannot fit a model's context, decided without a tokenizer: no
 * tokenizer the fabric serves makes a token of more than MAX_BYTES_PER_TOKEN bytes of text, so
 * bytes / MAX_BYTES_PER_TOKEN is a lower bound of the prompt's tokens. A prompt whose lower bound
 * is over the context is refused at submit (`context_length_exceeded`); one that only might not
 * fit is left to the engine.
 */
import type { JobInput } from './job.ts';

export const MAX_BYTES_PER_TOKEN = 32;

/** A lower bound of the tokens of the prompt, system prompt and messages. */
export function minPromptTokens(input: JobInput): number {
  let bytes = 0;
  for (const text of [input.prompt, input.system, ...(input.messages ?? []).map((m) => m.content)]) if (text) bytes += Buffer.byteLength(text);
  return Math.ceil(bytes / MAX_BYTES_PER_TOKEN);
}
