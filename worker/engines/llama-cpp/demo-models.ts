/**
 * Tiny llama-architecture demo models with seeded random weights, written as GGUF so the
 * embedded engine has something real to load where no model can be downloaded. They
 * produce real tokens through llama.cpp, but the text is gibberish: honest demo models.
 *
 * Generations run to `num_predict` unless a stop sequence hits, because end-of-generation
 * tokens can never win sampling. Dimension 0 of the residual stream is a constant "bias
 * channel": every token embedding has 1.0 there and no layer writes to it (row 0 of
 * `attn_output` and `ffn_down` is zero), so after the final RMS norm it is always positive.
 * The output row of every token we want to suppress (EOS, BOS, UNK, the chat control tokens,
 * the byte tokens and word fragments) is `[-BAN_LOGIT, 0, ...]`, giving it a logit of about
 * -1000, while whole-word tokens get random rows with logits of spread about 3. Banning byte
 * tokens also keeps the output valid UTF-8.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gguf, writeGguf, type GgufTensor, type GgufValue } from './gguf-writer.ts';

export interface DemoModelSpec {
  /** `general.name`; also the file name in `ensureDemoModels`. */
  name: string;
  embeddingLength: number;
  layers: number;
  heads: number;
  /** Grouped-query attention when below `heads`. */
  kvHeads: number;
  feedForwardLength: number;
  contextLength: number;
  /** Storage of the weight matrices; norms are always F32. */
  tensorType: 'f32' | 'f16';
  seed: number;
}

/** The default demo set: three sizes, one stored as F16, one with grouped-query attention. */
export const DEMO_MODELS: readonly DemoModelSpec[] = [
  { name: 'demo-chat', embeddingLength: 64, layers: 2, heads: 4, kvHeads: 4, feedForwardLength: 176, contextLength: 2048, tensorType: 'f16', seed: 1 },
  { name: 'demo-tiny', embeddingLength: 32, layers: 1, heads: 2, kvHeads: 2, feedForwardLength: 64, contextLength: 512, tensorType: 'f32', seed: 2 },
  { name: 'demo-embed', embeddingLength: 64, layers: 2, heads: 4, kvHeads: 2, feedForwardLength: 128, contextLength: 512, tensorType: 'f32', seed: 3 },
];

/** ChatML, in the exact form llama.cpp and node-llama-cpp recognise. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const BAN_LOGIT = 1000;

/** llama.cpp token types (`llama_token_type`). */
const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;

const WORDS = (
  'the of and to in is it that was for on are as with they at be this from have or by one had not ' +
  'but what all were when we there can an your which said if do will each about how up out them then ' +
  'she many some so these would other into more two like see time could no make than first been who ' +
  'now people made over did down only way find use may water long little very after words just where ' +
  'most know get through back much go good new model token queue worker fabric job cache stream slot'
).split(' ');

export interface DemoVocabulary {
  tokens: string[];
  scores: number[];
  types: number[];
  /** Token ids whose logits are pinned far below the allowed output tokens. */
  banned: Set<number>;
}

/**
 * A SentencePiece-style ("llama") vocabulary: <unk>, <s>, </s>, the 256 byte-fallback tokens
 * (so any input text tokenizes), the ChatML control tokens, then letters, digits, punctuation
 * and every prefix of each "▁word". SPM builds tokens by merging adjacent pieces, so a word is
 * only reachable as one token when all its prefixes exist; longer pieces score higher so merges
 * prefer them. Only whole words and punctuation may be generated, so output reads as word salad.
 */
export function demoVocabulary(): DemoVocabulary {
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const banned = new Set<number>();
  const add = (piece: string, type: number, ban: boolean) => {
    if (ban) banned.add(tokens.length);
    tokens.push(piece);
    scores.push(type === TOKEN_TYPE.normal ? piece.length : 0);
    types.push(type);
  };
  add('<unk>', TOKEN_TYPE.unknown, true);
  add('<s>', TOKEN_TYPE.control, true);
  add('</s>', TOKEN_TYPE.control, true);
  for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, TOKEN_TYPE.byte, true);
  add('<|im_start|>', TOKEN_TYPE.control, true);
  add('<|im_end|>', TOKEN_TYPE.control, true);

  const words = new Set(WORDS.map((w) => `▁${w}`));
  const pieces = new Set<string>(['▁']);
  for (const c of 'abcdefghijklmnopqrstuvwxyz') pieces.add(c).add(`▁${c}`);
  for (const c of '0123456789.,!?;:\'"-()') pieces.add(c);
  for (const w of words) for (let i = 2; i <= w.length; i++) pieces.add(w.slice(0, i));
  const generatable = (p: string) => words.has(p) || '.,!?;:'.includes(p);
  for (const piece of pieces) add(piece, TOKEN_TYPE.normal, !generatable(piece));
  return { tokens, scores, types, banned };
}

/** mulberry32 with Box-Muller: deterministic weights for a given seed. */
function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

function buildTensors(spec: DemoModelSpec, vocab: DemoVocabulary): GgufTensor[] {
  const rand = gaussian(spec.seed);
  const d = spec.embeddingLength;
  const headDim = d / spec.heads;
  const dKv = headDim * spec.kvHeads;
  const nVocab = vocab.tokens.length;
  const matrix = (name: string, nIn: number, nOut: number, std: number, zeroRow0 = false): GgufTensor => {
    const data = new Float32Array(nIn * nOut);
    for (let i = 0; i < data.length; i++) data[i] = rand() * std;
    if (zeroRow0) data.fill(0, 0, nIn); // keeps the bias channel (residual dim 0) constant
    return { name, dims: [nIn, nOut], type: spec.tensorType, data };
  };
  const ones = (name: string): GgufTensor => ({ name, dims: [d], type: 'f32', data: new Float32Array(d).fill(1) });

  const embd = matrix('token_embd.weight', d, nVocab, 1);
  for (let t = 0; t < nVocab; t++) embd.data[t * d] = 1;
  const output = matrix('output.weight', d, nVocab, 3 / Math.sqrt(d));
  for (let t = 0; t < nVocab; t++) {
    const row = t * d;
    if (vocab.banned.has(t)) {
      output.data.fill(0, row, row + d);
      output.data[row] = -BAN_LOGIT;
    } else output.data[row] = 0; // word logits do not depend on the bias channel
  }

  const tensors = [embd, ones('output_norm.weight'), output];
  for (let l = 0; l < spec.layers; l++) {
    const p = `blk.${l}`;
    tensors.push(
      ones(`${p}.attn_norm.weight`),
      matrix(`${p}.attn_q.weight`, d, d, 1 / Math.sqrt(d)),
      matrix(`${p}.attn_k.weight`, d, dKv, 1 / Math.sqrt(d)),
      matrix(`${p}.attn_v.weight`, d, dKv, 1 / Math.sqrt(d)),
      matrix(`${p}.attn_output.weight`, d, d, 0.5 / Math.sqrt(d), true),
      ones(`${p}.ffn_norm.weight`),
      matrix(`${p}.ffn_gate.weight`, d, spec.feedForwardLength, 1 / Math.sqrt(d)),
      matrix(`${p}.ffn_up.weight`, d, spec.feedForwardLength, 1 / Math.sqrt(d)),
      matrix(`${p}.ffn_down.weight`, spec.feedForwardLength, d, 0.5 / Math.sqrt(spec.feedForwardLength), true),
    );
  }
  return tensors;
}

function buildMetadata(spec: DemoModelSpec, vocab: DemoVocabulary): Record<string, GgufValue> {
  return {
    'general.architecture': gguf.string('llama'),
    'general.name': gguf.string(spec.name),
    'general.description': gguf.string('Demo model with seeded random weights: real llama.cpp tokens, gibberish text.'),
    'general.file_type': gguf.u32(spec.tensorType === 'f16' ? 1 : 0),
    'llama.context_length': gguf.u32(spec.contextLength),
    'llama.embedding_length': gguf.u32(spec.embeddingLength),
    'llama.block_count': gguf.u32(spec.layers),
    'llama.feed_forward_length': gguf.u32(spec.feedForwardLength),
    'llama.attention.head_count': gguf.u32(spec.heads),
    'llama.attention.head_count_kv': gguf.u32(spec.kvHeads),
    'llama.attention.layer_norm_rms_epsilon': gguf.f32(1e-5),
    'llama.rope.dimension_count': gguf.u32(spec.embeddingLength / spec.heads),
    'llama.rope.freq_base': gguf.f32(10000),
    'llama.vocab_size': gguf.u32(vocab.tokens.length),
    'tokenizer.ggml.model': gguf.string('llama'),
    'tokenizer.ggml.tokens': gguf.strings(vocab.tokens),
    'tokenizer.ggml.scores': gguf.f32s(vocab.scores),
    'tokenizer.ggml.token_type': gguf.i32s(vocab.types),
    'tokenizer.ggml.unknown_token_id': gguf.u32(0),
    'tokenizer.ggml.bos_token_id': gguf.u32(1),
    'tokenizer.ggml.eos_token_id': gguf.u32(2),
    'tokenizer.ggml.add_bos_token': gguf.bool(true),
    'tokenizer.ggml.add_eos_token': gguf.bool(false),
    // Render templates byte for byte: no implicit space after `<|im_start|>` or at prompt start.
    'tokenizer.ggml.add_space_prefix': gguf.bool(false),
    'tokenizer.chat_template': gguf.string(CHATML_TEMPLATE),
  };
}

function validate(spec: DemoModelSpec): void {
  const headDim = spec.embeddingLength / spec.heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new Error(`${spec.name}: embeddingLength / heads must be an even integer`);
  if (spec.heads % spec.kvHeads !== 0) throw new Error(`${spec.name}: heads must be a multiple of kvHeads`);
}

/** Writes one demo model to `path`; returns its size in bytes. */
export async function writeDemoModel(path: string, spec: DemoModelSpec): Promise<number> {
  validate(spec);
  const vocab = demoVocabulary();
  return writeGguf(path, { metadata: buildMetadata(spec, vocab), tensors: buildTensors(spec, vocab) });
}

export interface DemoModelFile {
  name: string;
  path: string;
  sizeBytes: number;
  /** False when the file already existed and was left as it was. */
  created: boolean;
}

/** Creates the demo models missing from `dir` (`<name>.gguf`) and returns all their paths. */
export async function ensureDemoModels(dir: string, specs: readonly DemoModelSpec[] = DEMO_MODELS): Promise<DemoModelFile[]> {
  const out: DemoModelFile[] = [];
  for (const spec of specs) {
    const path = join(dir, `${spec.name}.gguf`);
    const existing = await stat(path).catch(() => undefined);
    if (existing?.isFile()) {
      out.push({ name: spec.name, path, sizeBytes: existing.size, created: false });
      continue;
    }
    out.push({ name: spec.name, path, sizeBytes: await writeDemoModel(path, spec), created: true });
  }
  return out;
}
