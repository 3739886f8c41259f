/**
 * OpenAI-compatible inference routes: `POST /v1/chat/completions`, `/v1/completions` and
 * `/v1/embeddings`. Each request is a job in its model's queue; the answer names it in
 * `x-fabric-job-id`. Streaming answers are server-sent events ending with `data: [DONE]`;
 * a client that goes away cancels its job.
 */
import { JOB_ID_HEADER, abortOnClose, settleSyncWait } from '../http/client-gone.ts';
import { Router, type Response } from 'express';
import type { ApiOptions } from '../settings/options.ts';
import { cancelQuietly, followEvents, submitOpenAiJob, type BridgeDeps } from './job-bridge.ts';
import { OPENAI_ENDPOINTS, PARSERS, type OpenAiJob } from './requests.ts';
import { finishReason, jobFailure, logprobsPiece, responseBody, streamChunk, streamError, unixSeconds, usageChunk, type ChunkPiece } from './responses.ts';
import type { ConversationEvent } from '../../protocol/conversation.ts';

/**
 * A canonical event as a chunk's piece: text as `content`, reasoning as `reasoning_content`,
 * a call's start as its first `tool_calls` fragment (index, id, type, name, empty arguments)
 * and each arguments piece as a further fragment, as OpenAI streams them.
 */
function chunkPiece(ev: ConversationEvent): ChunkPiece | null {
  switch (ev.type) {
    case 'text':
      return ev.text === '' ? null : { content: ev.text };
    case 'reasoning':
      return ev.text === '' ? null : { reasoning: ev.text };
    case 'tool_call_start':
      return { toolCall: { index: ev.index, id: ev.id, type: 'function', function: { name: ev.name, arguments: '' } } };
    case 'tool_call_delta':
      return ev.arguments === '' ? null : { toolCall: { index: ev.index, function: { arguments: ev.arguments } } };
    case 'tool_call_end':
      return null;
  }
}

export interface OpenAiRoutesDeps extends BridgeDeps {
  opts: Pick<ApiOptions, 'maxWaitMs'>;
}

export function openAiRoutes(d: OpenAiRoutesDeps): Router {
  const r = Router();

  async function answer(res: Response, job: OpenAiJob): Promise<void> {
    const tenant = res.locals.tenant as string;
    const signal = abortOnClose(res);
    if (job.stream) return stream(res, tenant, job, signal);
    const { record } = await submitOpenAiJob(d, tenant, job, { waitMs: d.opts.maxWaitMs, signal });
    // Nobody will read the answer (the client left, or the wait ran out): its job is canceled.
    const finished = await settleSyncWait(res, signal, record, (id) => cancelQuietly(d, id));
    if (finished === undefined) return;
    // A wait that ran out (null) is a failure too.
    const failure = jobFailure(finished);
    if (failure || !finished) throw failure;
    res.json(responseBody(finished, job.encodingFormat));
  }

  async function stream(res: Response, tenant: string, job: OpenAiJob, signal: AbortSignal): Promise<void> {
    const { record } = await submitOpenAiJob(d, tenant, job);
    const meta = { id: record.id, task: job.task, model: record.model, created: unixSeconds(record.createdAt) };
    signal.addEventListener('abort', () => void cancelQuietly(d, record.id), { once: true });
    res.setHeader(JOB_ID_HEADER, record.id);
    const send = (data: object | string) => res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
    // The 200 waits for the first token: a job that fails before one (a prompt over the
    // context, found only at the worker) answers as the same HTTP error a non-streaming call gets.
    const begin = () => {
      if (res.headersSent) return;
      res.status(200).set({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      if (job.task === 'chat') send(streamChunk(meta, { role: true, content: '' }, job.includeUsage));
    };
    const rec = await followEvents(d, job, record.id, (ev) => {
      const piece = chunkPiece(ev);
      // Completions carry text only; reasoning and calls belong to chat.
      if (!piece || (job.task !== 'chat' && piece.content === undefined)) return;
      begin();
      send(streamChunk(meta, piece, job.includeUsage));
    }, d.opts.maxWaitMs, signal);
    if (signal.aborted) return;
    if (!rec) await cancelQuietly(d, record.id);
    const failure = jobFailure(rec);
    if (failure && !res.headersSent) throw failure;
    begin();
    if (failure) send(streamError(failure));
    else {
      // Logprobs come with the finished job: one chunk holds them all, before the finish.
      const lp = logprobsPiece(rec!);
      if (lp) send(streamChunk(meta, lp, job.includeUsage));
      send(streamChunk(meta, { finish: finishReason(rec!) }, job.includeUsage));
      if (job.includeUsage) send(usageChunk(meta, rec!));
      send('[DONE]');
    }
    res.end();
  }

  for (const endpoint of OPENAI_ENDPOINTS) {
    r.post(endpoint, (req, res) => answer(res, PARSERS[endpoint](req.body)));
  }
  return r;
}
