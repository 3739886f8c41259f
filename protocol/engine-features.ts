/**
 * What each engine kind serves beyond plain text, and the refusal, at submit time, of a job
 * asking for what its model's engine cannot do: a 400 naming the engine and the field, never a
 * silent drop. One table; an engine learns a feature by flipping its entry (and serving it).
 */

/** The fields of a job's input this check reads (structural: the job schema imports the tools check, which imports this). */
export interface FeatureInput {
  think?: boolean | 'low' | 'medium' | 'high';
  logprobs?: boolean;
  top_logprobs?: number;
  images?: string[];
  messages?: readonly { images?: string[] }[];
}

export interface EngineFeatures {
  /** `tool_choice` "required" or a named tool, the arguments held to the tool's schema. */
  forcedToolCall: boolean;
  /** `tool_choice` "auto" (the default with tools): the model chooses text or calls. */
  autoToolCall: boolean;
  /** Auto tool choice together with a response format (`format`). */
  autoToolCallWithFormat: boolean;
  /** Auto tool choice together with `logprobs` / `top_logprobs`. */
  autoToolCallWithLogprobs: boolean;
  /** `think`: reasoning on or off (and an effort level) and the reasoning text returned apart. */
  think: boolean;
  /** `logprobs` / `top_logprobs`. */
  logprobs: boolean;
  /** Images in a prompt or a message. */
  images: boolean;
}

const NONE: EngineFeatures = { forcedToolCall: false, autoToolCall: false, autoToolCallWithFormat: false, autoToolCallWithLogprobs: false, think: false, logprobs: false, images: false };

export const ENGINE_FEATURES: Readonly<Record<string, EngineFeatures>> = {
  // Auto tools run through node-llama-cpp's LlamaChat, which takes no grammar beside its
  // functions and gives no token probabilities.
  'llama-cpp': { ...NONE, forcedToolCall: true, autoToolCall: true, logprobs: true },
  // Ollama takes tools, think, logprobs and images itself (a model without the capability
  // answers 400, which fails the job as invalid_request); a forced call is `format` = the call
  // schema, which Ollama constrains decoding to, parsed by the worker.
  ollama: { forcedToolCall: true, autoToolCall: true, autoToolCallWithFormat: true, autoToolCallWithLogprobs: true, think: true, logprobs: true, images: true },
};

export function engineFeatures(engine: string | undefined): EngineFeatures {
  return (engine !== undefined ? ENGINE_FEATURES[engine] : undefined) ?? NONE;
}

/** The field a job asks for that its engine cannot serve. */
export interface FeatureRefusal {
  param: 'think' | 'logprobs' | 'top_logprobs' | 'images';
  message: string;
}

/** Why `input` cannot run on an engine of kind `engine` (reasoning, logprobs, images); null when it can. Tools: protocol/tools.ts. */
export function featureRefusal(engine: string | undefined, input: FeatureInput): FeatureRefusal | null {
  const f = engineFeatures(engine);
  const name = engine ?? 'unknown';
  if (input.think !== undefined && input.think !== false && !f.think) return { param: 'think', message: `reasoning (think) is not supported on the ${name} engine serving this model` };
  if (input.logprobs && !f.logprobs) return { param: 'logprobs', message: `logprobs are not supported on the ${name} engine serving this model` };
  if ((input.top_logprobs ?? 0) > 0 && !f.logprobs) return { param: 'top_logprobs', message: `top_logprobs are not supported on the ${name} engine serving this model` };
  const hasImages = (input.images?.length ?? 0) > 0 || (input.messages ?? []).some((m) => (m.images?.length ?? 0) > 0);
  if (hasImages && !f.images) return { param: 'images', message: `images are not supported on the ${name} engine serving this model` };
  return null;
}
