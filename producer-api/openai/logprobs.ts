/**
 * A job's log probabilities (Ollama's shape: token, logprob, top_logprobs) in OpenAI's shapes:
 * chat's `choices[].logprobs.content[]` (token, logprob, UTF-8 bytes, top_logprobs) and the
 * legacy completions object (tokens, token_logprobs, top_logprobs maps, text_offset).
 */
import type { TokenLogprob } from '../../protocol/job.ts';

const bytesOf = (token: string) => [...Buffer.from(token, 'utf8')];

/** Per token: token, logprob, UTF-8 bytes and the top alternatives (chat's `content[]`, the Responses API's `logprobs`). */
export function tokenLogprobs(lps: readonly TokenLogprob[]) {
  return lps.map((lp) => ({
    token: lp.token,
    logprob: lp.logprob,
    bytes: bytesOf(lp.token),
    top_logprobs: (lp.top_logprobs ?? []).map((t) => ({ token: t.token, logprob: t.logprob, bytes: bytesOf(t.token) })),
  }));
}

/** Chat's `logprobs` object for these tokens. */
export function chatLogprobs(lps: readonly TokenLogprob[]) {
  return { content: tokenLogprobs(lps), refusal: null };
}

/** The legacy completions `logprobs` object for these tokens. */
export function completionLogprobs(lps: readonly TokenLogprob[]) {
  const offsets: number[] = [];
  let at = 0;
  for (const lp of lps) {
    offsets.push(at);
    at += lp.token.length;
  }
  return {
    tokens: lps.map((lp) => lp.token),
    token_logprobs: lps.map((lp) => lp.logprob),
    top_logprobs: lps.map((lp) => Object.fromEntries((lp.top_logprobs ?? []).map((t) => [t.token, t.logprob]))),
    text_offset: offsets,
  };
}
