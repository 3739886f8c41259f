/** @inference-fabric/client: the TypeScript client of inference-fabric. */
export { FabricClient, type CallOptions, type ChatParams, type EmbedParams, type GenerateParams, type RunOptions } from './client.ts';
export { Jobs, newIdempotencyKey, type CreateOptions, type StreamEventsOptions, type WaitOptions } from './jobs.ts';
export { TokenStream } from './token-stream.ts';
export { FabricError, isFabricError, retryAfterMs, type FabricErrorInit } from './fabric-error.ts';
export {
  CLIENT_ERROR_CODES,
  HTTP_ERROR_CODES,
  JOB_ERROR_CODES,
  isErrorCode,
  type ClientErrorCode,
  type ErrorCode,
  type HttpErrorCode,
  type JobErrorCode,
} from './error-codes.ts';
export { CLIENT_DEFAULTS, type BreakerOptions, type FabricClientOptions, type ResolvedOptions, type RetryOptions, type StreamOptions } from './options.ts';
export { verifyWebhook, type VerifiedWebhook, type VerifyWebhookOptions, type WebhookHeaders, type WebhookPayload, type WebhookVerifyFailure, type WebhookVerifyResult } from './webhooks.ts';
export { TERMINAL_STATUSES, isTerminalStatus } from './types.ts';
export type { AnswerDelta, ChatMessage, GenerationOptions, Job, JobError, JobEvent, JobInput, JobOutput, JobRequest, JobStatus, Model, Task, TokenLogprob, Tool, ToolCall, WebhookEventType } from './types.ts';
