/**
 * Where a model the llama.cpp engine does not hold can be downloaded from: a declared URL
 * (`FABRIC_MODEL_SOURCES`, or the `url` of a pull), or a Hugging Face-style name
 * (`hf.co/org/repo:quant`) resolved to one GGUF file through the Hub's API at `hfEndpoint`
 * (`FABRIC_HF_ENDPOINT`). The checksum comes from the Hub's LFS object id or a `#sha256=<hex>`
 * fragment of a URL.
 */
import { EngineError } from '../../../../protocol/errors.ts';

export interface ModelSource {
  model: string;
  url: string;
  /** Expected sha256 (hex) of the whole file, when the source says. */
  sha256?: string;
  sizeBytes?: number;
}

export interface SourceOptions {
  /** Base URL of the Hugging Face Hub API (`https://huggingface.co`, or a mirror). */
  hfEndpoint: string;
  /** Canonical model name -> URL (with an optional `#sha256=<hex>` fragment). */
  declared: ReadonlyMap<string, string>;
  /** Limit for the resolution request. */
  timeoutMs: number;
}

/** A pull's own source, given with the request (a fabric extension of Ollama's pull). */
export interface ExplicitSource {
  url?: string;
  sha256?: string;
}

const SHA256_RE = /^[0-9a-f]{64}$/;
const HF_RE = /^(?:hf\.co|huggingface\.co)\/([^/:]+)\/([^/:]+):(.+)$/;

/** A URL with its `#sha256=` fragment split off; throws invalid_request for anything but http(s). */
export function parseSourceUrl(model: string, raw: string, sha256?: string): ModelSource {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new EngineError('invalid_request', `source of ${model} is not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new EngineError('invalid_request', `source of ${model} must be http or https, got ${url.protocol}`);
  const fragment = /(?:^|&)sha256=([0-9a-fA-F]{64})(?:&|$)/.exec(url.hash.slice(1));
  url.hash = '';
  const sum = (sha256 ?? fragment?.[1])?.toLowerCase();
  if (sum !== undefined && !SHA256_RE.test(sum)) throw new EngineError('invalid_request', `sha256 of ${model} must be 64 hex digits`);
  return { model, url: url.toString(), ...(sum ? { sha256: sum } : {}) };
}

/** Whether a name is a Hugging Face-style name this module can resolve. */
export function isHfName(model: string): boolean {
  return HF_RE.test(model);
}

/** Whether some source is known for `model` without asking the network. */
export function hasSource(model: string, opts: SourceOptions): boolean {
  return opts.declared.has(model) || isHfName(model);
}

/** The source of `model`, or model_not_found when none knows it. */
export async function resolveSource(model: string, opts: SourceOptions, explicit: ExplicitSource = {}): Promise<ModelSource> {
  if (explicit.url) return parseSourceUrl(model, explicit.url, explicit.sha256);
  const declared = opts.declared.get(model);
  if (declared) return parseSourceUrl(model, declared, explicit.sha256);
  const hf = HF_RE.exec(model);
  if (hf) return resolveHf(model, hf[1]!, hf[2]!, hf[3]!, opts);
  throw new EngineError('model_not_found', `no source knows ${model}: name a URL with the pull, declare it in FABRIC_MODEL_SOURCES, or use hf.co/<org>/<repo>:<quant>`);
}

interface HfTreeEntry {
  type?: string;
  path?: string;
  size?: number;
  lfs?: { oid?: string; size?: number };
}

/**
 * `hf.co/org/repo:quant` -> the repository's `.gguf` file whose name carries the quantization
 * (`:latest` takes Q4_K_M when there is one, else the only or first file). Split GGUFs are refused.
 */
async function resolveHf(model: string, org: string, repo: string, tag: string, opts: SourceOptions): Promise<ModelSource> {
  const base = opts.hfEndpoint.replace(/\/+$/, '');
  const repoPath = `${encodeURIComponent(org)}/${encodeURIComponent(repo)}`;
  let res: Response;
  try {
    res = await fetch(`${base}/api/models/${repoPath}/tree/main`, { signal: AbortSignal.timeout(opts.timeoutMs) });
  } catch (err) {
    throw new EngineError('engine_unavailable', `resolving ${model} at ${base} failed: ${(err as Error).message}`, { cause: err });
  }
  if (res.status === 404 || res.status === 401) throw new EngineError('model_not_found', `${model}: no repository ${org}/${repo} at ${base}`);
  if (!res.ok) throw new EngineError('engine_unavailable', `resolving ${model} at ${base} answered ${res.status}`);
  const tree = (await res.json()) as HfTreeEntry[];
  const files = (Array.isArray(tree) ? tree : []).filter((e) => e.type !== 'directory' && typeof e.path === 'string' && e.path.toLowerCase().endsWith('.gguf'));
  const single = files.filter((f) => !/-\d{5}-of-\d{5}\.gguf$/i.test(f.path!));
  const want = tag === 'latest' ? 'Q4_K_M' : tag;
  const named = single.filter((f) => f.path!.toUpperCase().includes(want.toUpperCase())).sort((a, b) => a.path!.length - b.path!.length);
  const pick = named[0] ?? (tag === 'latest' ? single[0] : undefined);
  if (!pick) {
    const split = files.some((f) => f.path!.toUpperCase().includes(want.toUpperCase()));
    const have = single.map((f) => f.path).join(', ') || 'none';
    throw new EngineError('model_not_found', split ? `${model}: only a split GGUF matches ${want}, which is not supported` : `${model}: no GGUF file for ${want} in ${org}/${repo} (files: ${have})`);
  }
  const oid = pick.lfs?.oid?.toLowerCase();
  const size = pick.lfs?.size ?? pick.size;
  const file = pick.path!.split('/').map(encodeURIComponent).join('/');
  return { model, url: `${base}/${repoPath}/resolve/main/${file}`, ...(oid && SHA256_RE.test(oid) ? { sha256: oid } : {}), ...(size !== undefined ? { sizeBytes: size } : {}) };
}
