/**
 * A fake Ollama server for tests (no Ollama can run here), following docs/api.md of
 * ollama/ollama: /api/tags, /api/ps, /api/show, /api/generate, /api/chat, /api/embed,
 * /api/pull, /api/version; NDJSON streams with the documented final fields; an empty prompt
 * loads (after `loadDelayMs`), an empty prompt with keep_alive 0 unloads; keep_alive sets
 * the expiry (negative: forever). Like the real server it cancels a load whose client goes
 * away (ollama/ollama#7408). Knobs reproduce the quirks the engine must survive.
 *
 * The fields of newer versions too: `tools` (a chat whose last message is not a tool result
 * answers with one call of the first tool, whole, in one chunk's `message.tool_calls`, arguments
 * an object made from its parameters schema), `format` as a JSON schema (the answer is a value of
 * the schema), `think` (reasoning streamed in `message.thinking` / `thinking` before the answer),
 * `logprobs` / `top_logprobs` (each chunk's tokens in its `logprobs`) and base64 `images`
 * (each counts as one prompt token). A model without the capability answers 400 as Ollama does.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FakeModelSpec {
  name: string;
  /** File size, as /api/tags reports it. */
  size: number;
  /** Footprint once loaded (weights + KV cache), /api/ps `size`; default size x 1.25. */
  loadedSize?: number;
  /** Part of it on GPUs, /api/ps `size_vram`; default all of it. */
  sizeVram?: number;
  family?: string;
  contextLength?: number;
  /** The answer every generation produces, piece by piece. */
  tokens?: string[];
  /** What the model can do, as /api/show's `capabilities` lists it (default: all of them). */
  capabilities?: Capability[];
}

/** Ollama's model capabilities that decide whether a request's fields are taken. */
export type Capability = 'completion' | 'tools' | 'thinking' | 'vision';
const ALL_CAPABILITIES: Capability[] = ['completion', 'tools', 'thinking', 'vision'];

/** What `format: "json"` answers, piece by piece. */
export const FAKE_JSON_TOKENS = ['{"sky"', ': ', '"blue"', '}'];

/** The reasoning a thinking model streams before its answer. */
export const FAKE_THOUGHTS = ['Let', ' me', ' think', '.'];

export interface RequestRecord {
  method: string;
  path: string;
  body: any;
  at: number;
  status?: number;
  /** The client closed the connection before the answer was complete. */
  clientClosedEarly: boolean;
  /** A load this request started was canceled because its client went away. */
  loadCanceled: boolean;
}

export interface FakeOllamaOptions {
  models: FakeModelSpec[];
  /** What /api/pull can download. */
  registry: FakeModelSpec[];
  loadDelayMs: number;
  tokenDelayMs: number;
  /** Ollama answers an unload before its runner has exited; /api/ps lists the model this long. */
  unloadDelayMs: number;
  /** The server's context size (OLLAMA_CONTEXT_LENGTH): /api/ps reports the smaller of it and the model's. */
  contextLength: number;
  /** 'split': every write ends inside a line, cut at an odd byte offset; 'burst': the whole answer in one write. */
  chunking: 'split' | 'burst';
  /** A model given tools calls every one of them at once (parallel calls), not only the first. */
  callAllTools: boolean;
}

/** Multi-byte pieces on purpose: a cut inside a UTF-8 character must not garble the text. */
export const FAKE_TOKENS = ['The', ' sky', ' is', ' blue', ' ☀️', ' because', ' of', ' Rayleigh', ' scattering', '.'];
const BUSY = 'server busy, please try again.  maximum pending requests exceeded';
const FOREVER_MS = 290 * 365.25 * 86_400_000;

/** Ollama's keep_alive: seconds or a Go duration; negative keeps forever; default 5m. In ms. */
export function keepAliveMs(v: unknown): number {
  if (v === undefined || v === null) return 300_000;
  if (typeof v === 'number') return v < 0 ? Infinity : v * 1000;
  const s = String(v).trim();
  if (/^-?\d+(\.\d+)?$/.test(s)) return keepAliveMs(Number(s));
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * unit[m[2]!]!;
  return s.startsWith('-') ? Infinity : ms;
}

const canonical = (name: string) => (name.slice(name.lastIndexOf('/') + 1).includes(':') ? name : `${name}:latest`);
const words = (text: string) => text.split(/\s+/).filter(Boolean).length;

/** Writes NDJSON lines as the knob says: straddling writes, or one burst at the end. */
class LineWriter {
  private carry = Buffer.alloc(0);
  private readonly res: ServerResponse;
  private readonly chunking: 'split' | 'burst';
  constructor(res: ServerResponse, chunking: 'split' | 'burst') {
    this.res = res;
    this.chunking = chunking;
  }

  line(obj: unknown): void {
    const bytes = Buffer.from(`${JSON.stringify(obj)}\n`);
    if (this.chunking === 'burst') {
      this.carry = Buffer.concat([this.carry, bytes]);
      return;
    }
    // Cut inside the first multi-byte character if there is one, else at an odd offset.
    const multi = bytes.findIndex((b) => b >= 0x80);
    const cut = multi >= 0 ? multi + 1 : Math.max(1, (bytes.length >> 1) | 1);
    this.res.write(Buffer.concat([this.carry, bytes.subarray(0, cut)]));
    this.carry = bytes.subarray(cut);
  }

  end(): void {
    this.res.end(this.carry);
  }
}

export class FakeOllama {
  readonly requests: RequestRecord[] = [];
  readonly opts: FakeOllamaOptions;
  url = '';
  private readonly models = new Map<string, FakeModelSpec>();
  private readonly loaded = new Map<string, { expiresAt: number; timer?: NodeJS.Timeout }>();
  private readonly loadFailures = new Map<string, { status: number; error: string }>();
  private readonly generationFailures = new Map<string, { afterTokens: number; error: string }>();
  private busyCount = 0;
  private readonly server: Server;
  private readonly stopping = new AbortController();

  constructor(opts: Partial<FakeOllamaOptions> = {}) {
    this.opts = { models: [], registry: [], loadDelayMs: 30, tokenDelayMs: 3, unloadDelayMs: 20, chunking: 'split', contextLength: 4096, callAllTools: false, ...opts };
    for (const m of this.opts.models) this.models.set(canonical(m.name), m);
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    for (const l of this.loaded.values()) clearTimeout(l.timer);
    const closed = new Promise((r) => this.server.close(r));
    this.server.closeAllConnections();
    await closed;
  }

  /** Names Ollama holds now. */
  residentNames(): string[] {
    return [...this.loaded.keys()];
  }

  /** The next generation on `model` streams `afterTokens` pieces, then an `{"error"}` line. */
  failNextGeneration(model: string, error: string, afterTokens = 2): void {
    this.generationFailures.set(canonical(model), { afterTokens, error });
  }

  /** The next load of `model` fails with this answer. */
  failNextLoad(model: string, status = 500, error = 'llama runner process has terminated: CUDA error: out of memory'): void {
    this.loadFailures.set(canonical(model), { status, error });
  }

  /** The next `n` inference requests find the queue full (OLLAMA_MAX_QUEUE). */
  busyFor(n: number): void {
    this.busyCount = n;
  }

  /** Ollama drops the model on its own (runner crash, OOM, restart). */
  dropModel(model: string): void {
    clearTimeout(this.loaded.get(canonical(model))?.timer);
    this.loaded.delete(canonical(model));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rec: RequestRecord = { method: req.method ?? 'GET', path: req.url ?? '/', body: undefined, at: Date.now(), clientClosedEarly: false, loadCanceled: false };
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableEnded) {
        rec.clientClosedEarly = true;
        gone.abort();
      }
    });
    res.on('finish', () => (rec.status = res.statusCode));
    this.requests.push(rec);
    let raw = '';
    for await (const piece of req) raw += String(piece);
    try {
      rec.body = raw ? JSON.parse(raw) : {};
    } catch {
      return this.error(res, 400, 'invalid character in request body');
    }
    const signal = AbortSignal.any([gone.signal, this.stopping.signal]);
    try {
      await this.route(rec, res, signal);
    } catch (err) {
      if (!signal.aborted && !res.headersSent) this.error(res, 500, String(err));
    }
  }

  private async route(rec: RequestRecord, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const key = `${rec.method} ${rec.path}`;
    if (key === 'GET /api/version') return this.json(res, { version: '0.6.8' });
    if (key === 'GET /api/tags') return this.json(res, { models: [...this.models.values()].map((m) => this.tag(m)) });
    if (key === 'GET /api/ps') return this.json(res, { models: [...this.loaded].map(([name, l]) => this.ps(this.models.get(name)!, l.expiresAt)) });
    if (key === 'POST /api/show') return this.show(rec.body, res);
    if (key === 'POST /api/pull') return this.pull(rec.body, res, signal);
    // docs/api.md: 200 with no body when deleted, 404 when the model does not exist.
    if (key === 'DELETE /api/delete') {
      const name = canonical(String(rec.body.model ?? rec.body.name ?? ''));
      if (!this.models.delete(name)) return this.error(res, 404, `model '${rec.body.model}' not found`);
      this.loaded.delete(name);
      return void res.writeHead(200).end();
    }
    if (key === 'POST /api/generate' || key === 'POST /api/chat' || key === 'POST /api/embed') return this.infer(rec, res, signal);
    res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found');
  }

  private async infer(rec: RequestRecord, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const b = rec.body;
    const kind = rec.path === '/api/chat' ? 'chat' : rec.path === '/api/embed' ? 'embed' : 'generate';
    if (typeof b.model !== 'string' || !b.model) return this.error(res, 400, 'model is required');
    const name = canonical(b.model);
    const spec = this.models.get(name);
    if (!spec) return this.error(res, 404, `model "${b.model}" not found, try pulling it first`);
    const refused = kind === 'embed' ? null : capabilityError(spec, b, kind);
    if (refused) return this.error(res, 400, refused);
    const empty = kind === 'chat' ? !(b.messages?.length > 0) : kind === 'generate' ? !b.prompt : false;
    const keepAlive = keepAliveMs(b.keep_alive);
    const head = { model: name, created_at: new Date().toISOString() };
    const emptyAnswer = kind === 'chat' ? { message: { role: 'assistant', content: '' } } : { response: '' };
    if (empty && keepAlive === 0) {
      setTimeout(() => this.dropModel(name), this.opts.unloadDelayMs).unref();
      return this.json(res, { ...head, ...emptyAnswer, done: true, done_reason: 'unload' });
    }
    if (this.busyCount > 0) {
      this.busyCount--;
      return this.error(res, 503, BUSY);
    }
    const loadStarted = Date.now();
    if (!this.loaded.has(name)) {
      const failure = this.loadFailures.get(name);
      if (failure) {
        this.loadFailures.delete(name);
        return this.error(res, failure.status, failure.error);
      }
      try {
        await sleep(this.opts.loadDelayMs, undefined, { signal });
      } catch {
        rec.loadCanceled = true; // the client went away: Ollama cancels the load
        return;
      }
      this.loaded.set(name, { expiresAt: Date.now() + 300_000 });
    }
    const loadNs = (Date.now() - loadStarted) * 1e6;
    if (kind === 'embed') return this.embed(b, res, name, keepAlive, loadNs);
    if (empty) {
      this.keepAlive(name, keepAlive);
      return this.json(res, { ...head, ...emptyAnswer, done: true, done_reason: 'load' });
    }
    await this.stream(rec, res, signal, spec, kind, loadNs);
    this.keepAlive(name, keepAlive);
  }

  private async stream(rec: RequestRecord, res: ServerResponse, signal: AbortSignal, spec: FakeModelSpec, kind: 'generate' | 'chat', loadNs: number): Promise<void> {
    const b = rec.body;
    const name = canonical(spec.name);
    const answer = plannedAnswer(spec, b, kind, this.opts.callAllTools);
    const all = answer.tokens;
    const limit = typeof b.options?.num_predict === 'number' && b.options.num_predict >= 0 ? b.options.num_predict : Infinity;
    const tokens = all.slice(0, Math.min(all.length, limit));
    const failure = this.generationFailures.get(name);
    this.generationFailures.delete(name);
    const messages = (kind === 'chat' ? b.messages : []) as { content: string; images?: string[] }[];
    const promptText = kind === 'chat' ? messages.map((m) => m.content).join(' ') : `${b.system ?? ''} ${b.prompt}`;
    const imageCount = kind === 'chat' ? messages.reduce((n, m) => n + (m.images?.length ?? 0), 0) : (b.images?.length ?? 0);
    const top = b.logprobs === true ? Math.max(0, Number(b.top_logprobs ?? 0)) : -1;
    const piece = (text: string, extra: { thinking?: string; tool_calls?: unknown[]; logprobs?: unknown[] } = {}) => ({
      model: name,
      created_at: new Date().toISOString(),
      ...(kind === 'chat'
        ? { message: { role: 'assistant', content: text, ...(extra.thinking !== undefined ? { thinking: extra.thinking } : {}), ...(extra.tool_calls ? { tool_calls: extra.tool_calls } : {}) } }
        : { response: text, ...(extra.thinking !== undefined ? { thinking: extra.thinking } : {}) }),
      ...(extra.logprobs ? { logprobs: extra.logprobs } : {}),
    });
    const streaming = b.stream !== false;
    const out = new LineWriter(res, streaming ? this.opts.chunking : 'burst');
    res.writeHead(200, { 'content-type': streaming ? 'application/x-ndjson' : 'application/json; charset=utf-8' });
    const started = Date.now();
    const tick = async () => {
      try {
        await sleep(this.opts.tokenDelayMs, undefined, { signal });
        return true;
      } catch {
        return false; // client gone: Ollama stops generating
      }
    };
    for (const t of answer.thoughts) {
      if (!(await tick())) return;
      if (streaming) out.line(piece('', { thinking: t }));
    }
    for (const [i, t] of tokens.entries()) {
      if (!(await tick())) return;
      if (failure && i === failure.afterTokens) {
        out.line({ error: failure.error });
        return out.end();
      }
      if (streaming) out.line(piece(t, top >= 0 ? { logprobs: [logprobOf(t, i, top)] } : {}));
    }
    if (answer.toolCalls.length) {
      if (!(await tick())) return;
      if (streaming) out.line(piece('', { tool_calls: answer.toolCalls }));
    }
    const promptTokens = words(promptText) + imageCount;
    const evalNs = (Date.now() - started) * 1e6 + 1;
    const whole = streaming
      ? {}
      : {
          ...(answer.thoughts.length ? { thinking: answer.thoughts.join('') } : {}),
          ...(answer.toolCalls.length ? { tool_calls: answer.toolCalls } : {}),
          ...(top >= 0 ? { logprobs: tokens.map((t, i) => logprobOf(t, i, top)) } : {}),
        };
    out.line({
      ...piece(streaming ? '' : tokens.join(''), whole),
      done: true,
      done_reason: tokens.length < all.length ? 'length' : 'stop',
      ...(kind === 'generate' ? { context: [1, 2, 3] } : {}),
      total_duration: loadNs + evalNs + promptTokens * 1e6,
      load_duration: loadNs,
      prompt_eval_count: promptTokens,
      prompt_eval_duration: promptTokens * 1e6,
      eval_count: tokens.length + answer.thoughts.length,
      eval_duration: evalNs,
    });
    out.end();
  }

  private embed(b: any, res: ServerResponse, name: string, keepAlive: number, loadNs: number): void {
    const inputs: string[] = typeof b.input === 'string' ? [b.input] : Array.isArray(b.input) ? b.input : [];
    if (inputs.length === 0) return this.error(res, 400, 'invalid input type');
    const vector = (text: string) => {
      const v = [text.length, words(text), text.charCodeAt(0) || 1, 1];
      const norm = Math.hypot(...v);
      return v.map((x) => x / norm);
    };
    this.keepAlive(name, keepAlive);
    this.json(res, { model: name, embeddings: inputs.map(vector), total_duration: loadNs + 1e6, load_duration: loadNs, prompt_eval_count: inputs.reduce((s, t) => s + words(t), 0) });
  }

  private async pull(b: any, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const spec = this.opts.registry.find((m) => canonical(m.name) === canonical(String(b.model ?? '')));
    const streaming = b.stream !== false;
    if (!spec && !streaming) return this.error(res, 500, 'pull model manifest: file does not exist');
    const digest = `sha256:${'ab12'.repeat(16)}`;
    const lines: object[] = [{ status: 'pulling manifest' }];
    if (!spec) lines.push({ error: 'pull model manifest: file does not exist' });
    else {
      for (const completed of [0, Math.floor(spec.size / 2), spec.size]) lines.push({ status: `downloading ${digest}`, digest, total: spec.size, completed });
      lines.push({ status: 'verifying sha256 digest' }, { status: 'writing manifest' }, { status: 'removing any unused layers' }, { status: 'success' });
    }
    res.writeHead(200, { 'content-type': streaming ? 'application/x-ndjson' : 'application/json; charset=utf-8' });
    const out = new LineWriter(res, this.opts.chunking);
    for (const line of streaming ? lines : [{ status: 'success' }]) {
      try {
        await sleep(this.opts.tokenDelayMs, undefined, { signal });
      } catch {
        return;
      }
      out.line(line);
    }
    if (spec) this.models.set(canonical(spec.name), spec);
    out.end();
  }

  private show(b: any, res: ServerResponse): void {
    const spec = this.models.get(canonical(String(b.model ?? '')));
    if (!spec) return this.error(res, 404, `model '${b.model}' not found`);
    const family = spec.family ?? 'llama';
    this.json(res, {
      modelfile: `FROM ${spec.name}`,
      parameters: '',
      template: '{{ .Prompt }}',
      details: this.tag(spec).details,
      capabilities: spec.capabilities ?? ALL_CAPABILITIES,
      model_info: { 'general.architecture': family, [`${family}.context_length`]: spec.contextLength ?? 2048, [`${family}.block_count`]: 22, [`${family}.embedding_length`]: 4096, [`${family}.attention.head_count`]: 32, [`${family}.attention.head_count_kv`]: 8 },
    });
  }

  private keepAlive(name: string, ms: number): void {
    const entry = this.loaded.get(name);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.expiresAt = Date.now() + ms;
    entry.timer = Number.isFinite(ms) ? setTimeout(() => this.dropModel(name), ms).unref() : undefined;
  }

  private tag(m: FakeModelSpec) {
    const details = { format: 'gguf', family: m.family ?? 'llama', families: [m.family ?? 'llama'], parameter_size: '1.1B', quantization_level: 'Q4_0' };
    return { name: canonical(m.name), model: canonical(m.name), modified_at: '2024-11-04T14:56:49.277302595-07:00', size: m.size, digest: `${canonical(m.name).length}f438cb9cd581fc0`, details };
  }

  private ps(m: FakeModelSpec, expiresAt: number) {
    const size = m.loadedSize ?? Math.round(m.size * 1.25);
    const expires = Number.isFinite(expiresAt) ? expiresAt : Date.now() + FOREVER_MS;
    return { ...this.tag(m), size, size_vram: m.sizeVram ?? size, expires_at: new Date(expires).toISOString(), context_length: Math.min(this.opts.contextLength, m.contextLength ?? 2048) };
  }

  private json(res: ServerResponse, body: unknown): void {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
  }

  private error(res: ServerResponse, status: number, error: string): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ error }));
  }
}

/** Why Ollama answers 400 before generating: a field the model lacks the capability for, or an image that is not base64. */
function capabilityError(spec: FakeModelSpec, b: any, kind: 'generate' | 'chat'): string | null {
  const caps = spec.capabilities ?? ALL_CAPABILITIES;
  const name = canonical(spec.name);
  if (kind === 'chat' && Array.isArray(b.tools) && b.tools.length > 0 && !caps.includes('tools')) return `registry.ollama.ai/library/${name} does not support tools`;
  if (b.think !== undefined && b.think !== false && !caps.includes('thinking')) return `"${name}" does not support thinking`;
  const images: unknown[] = kind === 'chat' ? (b.messages ?? []).flatMap((m: { images?: unknown[] }) => m.images ?? []) : (b.images ?? []);
  for (const img of images) {
    if (typeof img !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(img) || img.length % 4 !== 0) return 'illegal base64 data at input byte 0';
  }
  if (images.length > 0 && !caps.includes('vision')) return `"${name}" does not support image input`;
  return null;
}

/** What a request makes the fake answer: reasoning pieces, text pieces and tool calls. */
function plannedAnswer(spec: FakeModelSpec, b: any, kind: 'generate' | 'chat', callAll: boolean): { thoughts: string[]; tokens: string[]; toolCalls: unknown[] } {
  const thoughts = b.think !== undefined && b.think !== false ? FAKE_THOUGHTS : [];
  const messages: { role: string }[] = kind === 'chat' ? b.messages : [];
  const tools: { function: { name: string; parameters?: unknown } }[] = kind === 'chat' && Array.isArray(b.tools) ? b.tools : [];
  // A model given tools calls the first one (or all), unless it was just given a tool's result.
  if (tools.length > 0 && messages.at(-1)?.role !== 'tool') {
    const called = callAll ? tools : tools.slice(0, 1);
    return { thoughts, tokens: [], toolCalls: called.map((t, index) => ({ function: { index, name: t.function.name, arguments: exampleOf(t.function.parameters ?? { type: 'object' }) } })) };
  }
  if (b.format && typeof b.format === 'object') {
    const json = JSON.stringify(exampleOf(b.format));
    const tokens: string[] = [];
    for (let i = 0; i < json.length; i += 4) tokens.push(json.slice(i, i + 4));
    return { thoughts, tokens, toolCalls: [] };
  }
  if (b.format === 'json') return { thoughts, tokens: FAKE_JSON_TOKENS, toolCalls: [] };
  return { thoughts, tokens: spec.tokens ?? FAKE_TOKENS, toolCalls: [] };
}

/** A value of a JSON schema (the subset tests send: const, enum, anyOf, objects, arrays, scalars with bounds). */
export function exampleOf(schema: any): unknown {
  if (!schema || typeof schema !== 'object') return {};
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  const alt = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(alt) && alt.length) return exampleOf(alt[0]);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, exampleOf(v)]));
    }
    case 'array':
      return Array.from({ length: schema.minItems ?? 0 }, () => exampleOf(schema.items));
    case 'string':
      return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return {};
  }
}

/** Ollama's logprob entry for the i-th token: made-up but stable numbers, `top` alternatives (the token first). */
function logprobOf(token: string, i: number, top: number) {
  const lp = -0.1 * (i + 1);
  const bytes = [...Buffer.from(token)];
  const entry: Record<string, unknown> = { token, logprob: lp, bytes };
  if (top > 0) entry.top_logprobs = Array.from({ length: top }, (_, k) => (k === 0 ? { token, logprob: lp, bytes } : { token: `alt${k}`, logprob: lp - k, bytes: [...Buffer.from(`alt${k}`)] }));
  return entry;
}

/** A started fake with one small chat model and one embedding model. */
export async function startFakeOllama(opts: Partial<FakeOllamaOptions> = {}): Promise<FakeOllama> {
  const models: FakeModelSpec[] = [
    { name: 'tinyllama:latest', size: 637_000_000, loadedSize: 900_000_000, sizeVram: 850_000_000, contextLength: 2048 },
    { name: 'all-minilm:latest', size: 45_000_000, family: 'bert', contextLength: 512 },
  ];
  return new FakeOllama({ models, ...opts }).start();
}
