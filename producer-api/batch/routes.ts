/**
 * OpenAI's Files and Batch API, scoped per tenant: `/v1/files` (multipart upload streamed
 * into Redis, list, retrieve, content, delete) and `/v1/batches` (create, list, retrieve,
 * cancel). The upload router is mounted before the JSON body parser.
 */
import busboy from 'busboy';
import { Router, type Request, type RequestHandler } from 'express';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { parseDurationMs } from '../../protocol/env.ts';
import { HttpError } from '../http/http-error.ts';
import { OpenAiError } from '../openai/errors.ts';
import { OPENAI_ENDPOINTS } from '../openai/requests.ts';
import type { BatchRunner } from './batch-runner.ts';
import { batchView, isBatchTerminal, type BatchStore } from './batch-store.ts';
import { BATCH_WEBHOOK_FIELD } from './batch-webhooks.ts';
import { fileView, type FileStore, type StoredFile } from './file-store.ts';
import type { BatchOptions } from './options.ts';

/** Reads a multipart upload, handing the `file` part to `ingest` as it streams in. */
function receiveUpload(req: Request, ingest: (content: Readable, filename: string) => Promise<StoredFile>): Promise<{ file: StoredFile | null; fields: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fields: 10, fieldSize: 4096 } });
    } catch (err) {
      return reject(new HttpError(400, 'invalid_multipart', (err as Error).message));
    }
    const fields: Record<string, string> = {};
    let work: Promise<StoredFile> | null = null;
    bb.on('field', (name, value) => (fields[name] = value));
    bb.on('file', (name, stream, info) => {
      // A body cut short errors the open part's stream as well as busboy: a client's fault (400),
      // and without a listener here that error would be thrown out of the process.
      let cut: Error | null = null;
      stream.on('error', (err) => (cut = err));
      if (name !== 'file' || work) return void stream.resume();
      work = ingest(stream, info.filename ?? 'upload.jsonl');
      // A refused file (too large) answers at once; the rest of the body is read and dropped.
      work.catch((err) => {
        req.unpipe(bb);
        req.resume();
        // The store's own refusals (413) stand; a read that failed because the body was cut is the client's.
        reject(cut && !(err instanceof HttpError) ? new HttpError(400, 'invalid_multipart', cut.message) : err);
      });
    });
    bb.on('error', (err) => reject(new HttpError(400, 'invalid_multipart', (err as Error).message)));
    bb.on('close', () => {
      (work ?? Promise.resolve(null)).then((file) => resolve({ file, fields }), reject);
    });
    req.pipe(bb);
  });
}

function listQuery(req: Request, max: number, fallback: number): { after?: string; limit: number } {
  const limit = req.query.limit === undefined ? fallback : Number(req.query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw OpenAiError.invalid(`limit must be an integer from 1 to ${max}`, 'limit');
  return { after: typeof req.query.after === 'string' ? req.query.after : undefined, limit };
}

const listOf = <T extends { id: string }>(data: T[], hasMore: boolean) => ({ object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore });

/** `POST /v1/files`: multipart with `purpose=batch` and a JSONL `file`, streamed into the store. */
export function fileUploadRoutes(d: { tenant: RequestHandler; files: FileStore; opts: BatchOptions }): Router {
  const r = Router();
  r.post('/v1/files', d.tenant, async (req, res) => {
    if (!req.is('multipart/form-data')) throw new HttpError(415, 'unsupported_media_type', 'upload files as multipart/form-data with the fields purpose and file');
    const declared = Number(req.get('content-length') ?? 0);
    // Refused before reading when the body is announced larger than any file may be.
    if (declared > d.opts.maxFileBytes + 1024 * 1024) throw new HttpError(413, 'file_too_large', `the file is larger than ${d.opts.maxFileBytes} bytes`);
    const tenant = res.locals.tenant as string;
    const { file, fields } = await receiveUpload(req, (content, filename) => d.files.ingest(tenant, filename, 'batch', content));
    if (!file) throw OpenAiError.invalid('the multipart field file is required', 'file');
    if (fields.purpose !== 'batch') {
      await d.files.delete(tenant, file.id);
      throw OpenAiError.invalid(`purpose must be "batch"${fields.purpose ? `, got ${JSON.stringify(fields.purpose)}` : ''}`, 'purpose');
    }
    res.json(fileView(file));
  });
  return r;
}

const createBatchSchema = z.object({
  input_file_id: z.string().min(1),
  endpoint: z.enum(OPENAI_ENDPOINTS as unknown as [string, ...string[]]),
  completion_window: z.string().min(1),
  metadata: z.record(z.string().max(64), z.string().max(512)).nullable().optional(),
});

export interface BatchRoutesDeps {
  files: FileStore;
  batches: BatchStore;
  runner: BatchRunner;
  opts: BatchOptions;
  /** Reason a webhook URL is refused, or null when it may be called. */
  checkWebhookUrl: (url: string) => Promise<string | null>;
}

/** The completion window in ms: OpenAI's `24h`, or (an extension) any `<n>s|m|h|d` within the configured bounds. */
function windowMs(text: string, o: BatchOptions): number {
  const days = /^(\d+)d$/.exec(text);
  let ms: number;
  try {
    ms = days ? Number(days[1]) * 86_400_000 : parseDurationMs(text);
  } catch {
    throw OpenAiError.invalid(`completion_window must be a duration like "24h", got ${JSON.stringify(text)}`, 'completion_window');
  }
  if (ms < o.minWindowMs || ms > o.maxWindowMs) throw OpenAiError.invalid(`completion_window must be between ${o.minWindowMs / 1000} s and ${o.maxWindowMs / 3_600_000} h`, 'completion_window');
  return ms;
}

export function fileAndBatchRoutes(d: BatchRoutesDeps): Router {
  const r = Router();
  const tenantOf = (res: { locals: Record<string, unknown> }) => res.locals.tenant as string;

  r.get('/v1/files', async (req, res) => {
    const q = listQuery(req, 10_000, 10_000);
    const { data, hasMore } = await d.files.list(tenantOf(res), { ...q, purpose: typeof req.query.purpose === 'string' ? req.query.purpose : undefined });
    res.json(listOf(data.map(fileView), hasMore));
  });
  r.get('/v1/files/:id', async (req, res) => {
    res.json(fileView(await d.files.get(tenantOf(res), req.params.id!)));
  });
  r.get('/v1/files/:id/content', async (req, res) => {
    const f = await d.files.get(tenantOf(res), req.params.id!);
    // The name is the uploader's: `attachment` escapes it (and adds `filename*` for what a header cannot carry as is).
    res.status(200).attachment(f.filename).set('content-type', 'application/jsonl; charset=utf-8');
    await d.files.pipeContent(f.id, res);
    res.end();
  });
  r.delete('/v1/files/:id', async (req, res) => {
    await d.files.delete(tenantOf(res), req.params.id!);
    res.json({ id: req.params.id, object: 'file', deleted: true });
  });

  r.post('/v1/batches', async (req, res) => {
    const parsed = createBatchSchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw OpenAiError.invalid(`${issue.path.join('.') || 'body'}: ${issue.message}`, issue.path.join('.') || null);
    }
    const b = parsed.data;
    const metadata = b.metadata ?? null;
    if (metadata && Object.keys(metadata).length > 16) throw OpenAiError.invalid('metadata may hold at most 16 pairs', 'metadata');
    const ms = windowMs(b.completion_window, d.opts);
    const file = await d.files.get(tenantOf(res), b.input_file_id).catch(() => {
      throw new OpenAiError(404, 'file_not_found', `No such File object: ${b.input_file_id}`, 'input_file_id', false);
    });
    if (file.purpose !== 'batch') throw OpenAiError.invalid(`file ${file.id} has purpose ${file.purpose}, not batch`, 'input_file_id');
    const hook = metadata?.[BATCH_WEBHOOK_FIELD];
    if (hook) {
      const reason = await d.checkWebhookUrl(hook).catch((err: Error) => err.message);
      if (reason) throw new OpenAiError(422, 'webhook_url_refused', `webhook url refused: ${reason}`, `metadata.${BATCH_WEBHOOK_FIELD}`, false);
    }
    const batch = await d.batches.create({ tenant: tenantOf(res), endpoint: b.endpoint, inputFileId: file.id, completionWindow: b.completion_window, windowMs: ms, metadata });
    d.runner.poke(batch.id);
    res.json(batchView(batch));
  });
  r.get('/v1/batches', async (req, res) => {
    const q = listQuery(req, 100, 20);
    const { data, hasMore } = await d.batches.list(tenantOf(res), q.after, q.limit);
    res.json(listOf(data.map(batchView), hasMore));
  });
  r.get('/v1/batches/:id', async (req, res) => {
    res.json(batchView(await d.batches.get(tenantOf(res), req.params.id!)));
  });
  r.post('/v1/batches/:id/cancel', async (req, res) => {
    const b = await d.batches.get(tenantOf(res), req.params.id!);
    if (isBatchTerminal(b.status) || b.status === 'finalizing') throw new OpenAiError(409, 'batch_not_cancellable', `batch ${b.id} is ${b.status} and can no longer be cancelled`, null, false);
    await d.batches.transition(b.id, 'cancelling', ['validating', 'in_progress']);
    d.runner.poke(b.id);
    res.json(batchView((await d.batches.get(tenantOf(res), b.id))));
  });
  return r;
}
