/** @inference-fabric/client: the TypeScript client of inference-fabric. */
export { FabricClient, type CallOptions, type ChatParams, type EmbedParams, type GenerateParams, type RunOptions } from './client.js';
export { Jobs, newIdempotencyKey, type CreateOptions, type StreamEventsOptions, type WaitOptions } from './jobs.js';
export { TokenStream } from './token-stream.js';
export { FabricError, isFabricError, retryAfterMs, type FabricErrorInit } from './fabric-error.js';
export {
  CLIENT_ERROR_CODES,
  HTTP_ERROR_CODES,
  JOB_ERROR_CODES,
  isErrorCode,
  type ClientErrorCode,
  type ErrorCode,
  type HttpErrorCode,
  type JobErrorCode,
} from './error-codes.js';
export { CLIENT_DEFAULTS, type BreakerOptions, type FabricClientOptions, type ResolvedOptions, type RetryOptions, type StreamOptions } from './options.js';
export { verifyWebhook, type VerifiedWebhook, type VerifyWebhookOptions, type WebhookHeaders, type WebhookPayload, type WebhookVerifyFailure, type WebhookVerifyResult } from './webhooks.js';
export { TERMINAL_STATUSES, isTerminalStatus } from './types.js';
export type { ChatMessage, GenerationOptions, Job, JobError, JobEvent, JobInput, JobRequest, JobStatus, Model, Task, WebhookEventType } from './types.js';
