/**
 * The error codes the fabric sends, spelled once: the client package owns the list (it must
 * stand alone), the server uses it from here. HttpError and JobError are typed with these
 * unions, so a code that is not in the list does not compile.
 */
export { HTTP_ERROR_CODES, JOB_ERROR_CODES, isErrorCode, type HttpErrorCode, type JobErrorCode } from '../client/src/error-codes.ts';
