import type { HttpErrorCode } from '../../protocol/error-codes.ts';
import type { SchemaRefusal } from '../../protocol/json-schema/index.ts';
import type { FeatureRefusal } from '../../protocol/engine-features.ts';
import type { ToolsRefusal } from '../../protocol/tools.ts';

/** The one HTTP error type; the final error handler turns it into `{error:{code,message}}`. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: HttpErrorCode;
  readonly headers: Record<string, string>;
  constructor(
    status: number,
    code: HttpErrorCode,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
    this.name = 'HttpError';
  }
}

export const badRequest = (code: HttpErrorCode, message: string) => new HttpError(400, code, message);
export const notFound = (code: HttpErrorCode, message: string) => new HttpError(404, code, message);
export const conflict = (code: HttpErrorCode, message: string) => new HttpError(409, code, message);
export const unavailable = (code: HttpErrorCode, message: string, retryAfterSec: number) =>
  new HttpError(503, code, message, { 'Retry-After': String(retryAfterSec) });

/** A 400 for a response schema that cannot be enforced; wire adapters may name their own field for it. */
export class SchemaRefusedHttpError extends HttpError {
  readonly refusal: SchemaRefusal;
  constructor(
    message: string,
    refusal: SchemaRefusal,
  ) {
    super(400, 'invalid_request', message);
    this.refusal = refusal;
    this.name = 'SchemaRefusedHttpError';
  }
}

/**
 * A 400 for tools that cannot be served: `tools_unsupported` for what is not served yet,
 * `invalid_request` for invalid tools; `param` is the request field at fault.
 */
export class ToolsRefusedHttpError extends HttpError {
  readonly param: 'tools' | 'tool_choice';
  constructor(refusal: ToolsRefusal) {
    super(400, refusal.unsupported ? 'tools_unsupported' : 'invalid_request', refusal.message);
    this.param = refusal.param;
    this.name = 'ToolsRefusedHttpError';
  }
}

/** A 400 for a field the model's engine cannot serve (reasoning, logprobs, images); `param` names it. */
export class FeatureRefusedHttpError extends HttpError {
  readonly param: FeatureRefusal['param'];
  constructor(refusal: FeatureRefusal) {
    super(400, 'feature_unsupported', refusal.message);
    this.param = refusal.param;
    this.name = 'FeatureRefusedHttpError';
  }
}
