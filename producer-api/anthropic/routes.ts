/**
 * Anthropic Messages routes: `POST /v1/messages` and `POST /v1/messages/count_tokens`. Each
 * message is a chat job in its model's queue; the answer names it in `x-fabric-job-id`.
 * Streaming answers are server-sent events in Anthropic's order (message_start, ping, then per
 * content block content_block_start, content_block_delta..., content_block_stop, then
 * message_delta, message_stop); a client that goes away cancels its job.
 */
import { JOB_ID_HEADER, abortOnClose, settleSyncWait } from '../http/client-gone.ts';
import { Router, type Response } from 'express';
import { minPromptTokens } from '../../protocol/context-length.ts';
import type { FleetView } from '../fleet/fleet-view.ts';
import { notFound } from '../http/http-error.ts';
import type { ApiOptions } from '../settings/options.ts';
import { cancelQuietly, followEvents, submitMessagesJob, type BridgeDeps } from './job-bridge.ts';
import { parseCountTokensRequest, parseMessagesRequest, type MessagesJob } from './requests.ts';
import { jobFailure, messageBody, messageDelta, messageStart, messageStop, ping, sseEvent, streamError } from './responses.ts';
import { MessageBlocks } from './stream-blocks.ts';

export interface AnthropicRoutesDeps extends BridgeDeps {
  fleet: FleetView;
  opts: Pick<ApiOptions, 'maxWaitMs'>;
}

export function anthropicRoutes(d: AnthropicRoutesDeps): Router {
  const r = Router();

  async function answer(res: Response, job: MessagesJob): Promise<void> {
    const tenant = res.locals.tenant as string;
    const signal = abortOnClose(res);
    if (job.stream) return stream(res, tenant, job, signal);
    const { record } = await submitMessagesJob(d, tenant, job, { waitMs: d.opts.maxWaitMs, signal });
    // Nobody will read the answer (the client left, or the wait ran out): its job is canceled.
    const finished = await settleSyncWait(res, signal, record, (id) => cancelQuietly(d, id));
    if (finished === undefined) return;
    // A wait that ran out (null) is a failure too.
    const failure = jobFailure(finished);
    if (failure || !finished) throw failure;
    res.json(messageBody(finished));
  }

  async function stream(res: Response, tenant: string, job: MessagesJob, signal: AbortSignal): Promise<void> {
    const { record } = await submitMessagesJob(d, tenant, job);
    signal.addEventListener('abort', () => void cancelQuietly(d, record.id), { once: true });
    res.status(200).set({ [JOB_ID_HEADER]: record.id, 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    const send = (data: { type: string }) => res.write(sseEvent(data));
    send(messageStart(record, minPromptTokens(job.input)));
    send(ping());
    const blocks = new MessageBlocks(send);
    const rec = await followEvents(d, job, record.id, (ev) => blocks.push(ev), d.opts.maxWaitMs, signal);
    if (signal.aborted) return;
    if (!rec) await cancelQuietly(d, record.id);
    const failure = jobFailure(rec);
    if (failure) send(streamError(failure));
    else {
      blocks.finish();
      send(messageDelta(rec!));
      send(messageStop());
    }
    res.end();
  }

  r.post('/v1/messages', (req, res) => answer(res, parseMessagesRequest(req.body)));
  // An estimate: the API holds no tokenizer, so this is the lower bound submit checks contexts with.
  r.post('/v1/messages/count_tokens', async (req, res) => {
    const { model, input } = parseCountTokensRequest(req.body);
    // As a message would be: a model no engine serves is not found (the same words as submit's).
    if (!(await d.fleet.snapshot()).catalog.has(model)) throw notFound('model_not_found', `model ${model} is not available on any engine; see GET /v1/models`);
    res.json({ input_tokens: minPromptTokens(input) });
  });
  return r;
}
