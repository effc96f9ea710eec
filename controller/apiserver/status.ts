// The one place where typed errors become HTTP codes and Kubernetes Status
// objects. Everything the API answers with a non-2xx code goes through here.
import { isFlotillaError, toFlotillaError, type ErrorCode, type Status } from '../../api/index.js';
import { cutValue } from '../../api/quote.js';

/** Longest message (or cause message) of a Status, in characters. */
const MAX_MESSAGE_CHARS = 16 * 1024;
/** Most causes listed in a Status: a body with a million bad fields gets a readable answer. */
const MAX_CAUSES = 100;

const HTTP: Record<ErrorCode, { code: number; reason: string }> = {
  BadRequest: { code: 400, reason: 'BadRequest' },
  Invalid: { code: 422, reason: 'Invalid' },
  NotFound: { code: 404, reason: 'NotFound' },
  AlreadyExists: { code: 409, reason: 'AlreadyExists' },
  Conflict: { code: 409, reason: 'Conflict' },
  Gone: { code: 410, reason: 'Expired' },
  Unauthorized: { code: 401, reason: 'Unauthorized' },
  Forbidden: { code: 403, reason: 'Forbidden' },
  RequestEntityTooLarge: { code: 413, reason: 'RequestEntityTooLarge' },
  UnsupportedMediaType: { code: 415, reason: 'UnsupportedMediaType' },
  MethodNotAllowed: { code: 405, reason: 'MethodNotAllowed' },
  NotSupported: { code: 405, reason: 'MethodNotAllowed' },
  Timeout: { code: 504, reason: 'Timeout' },
  TooManyRequests: { code: 429, reason: 'TooManyRequests' },
  Unavailable: { code: 503, reason: 'ServiceUnavailable' },
  Internal: { code: 500, reason: 'InternalError' },
};

/** The HTTP code and Status reason for an error code. */
export function httpFor(code: ErrorCode): { code: number; reason: string } {
  return HTTP[code] ?? HTTP.Internal;
}

/** A Failure Status for anything thrown; unknown errors become 500 InternalError. */
export function statusFromError(err: unknown): Status {
  const e = toFlotillaError(err);
  const { code, reason } = httpFor(e.code);
  // the message is cut as a last resort: every value quoted in it should already be (api/quote.ts)
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: cutValue(e.message, MAX_MESSAGE_CHARS), reason, code };
  const details: NonNullable<Status['details']> = {};
  const d = e.details;
  // no real name is this long (253 at most): a longer one is what the client sent, cut
  if (typeof d.name === 'string') details.name = cutValue(d.name);
  if (typeof d.group === 'string') details.group = d.group;
  if (typeof d.kind === 'string') details.kind = d.kind;
  if (typeof d.retryAfterSeconds === 'number') details.retryAfterSeconds = d.retryAfterSeconds;
  if (e.causes.length > 0) details.causes = e.causes.slice(0, MAX_CAUSES).map((c) => ({ reason: c.reason, message: cutValue(c.message, MAX_MESSAGE_CHARS), ...(c.field !== '' ? { field: c.field } : {}) }));
  if (Object.keys(details).length > 0) status.details = details;
  if (!isFlotillaError(err) && err instanceof Error) status.message = `Internal error occurred: ${cutValue(err.message, MAX_MESSAGE_CHARS)}`;
  return status;
}

/**
 * A Failure Status for an answer no typed error stands for (the parser's
 * 431, a 408): the same shape, with the code and reason given.
 */
export function failureStatus(code: number, reason: string, message: string): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** A Success Status (deletes of non-pod objects, bindings). */
export function successStatus(code = 200, details?: Status['details']): Status {
  const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code };
  if (details) s.details = details;
  return s;
}
