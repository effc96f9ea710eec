// The CLI's error kinds and the one place they become a line on stderr and an
// exit code. Nothing else in cli/ prints errors.
import { FlotillaError, type ErrorCode, type Status } from '../api/index.js';

/** A failure of the command itself (bad input, missing file): printed as `error: <message>`. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/** Wrong flags or arguments: printed with a pointer to the command's help. */
export class UsageError extends CliError {
  constructor(
    message: string,
    readonly command: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The server could not be reached; the message is complete (kubectl's wording). */
export class ConnectionError extends Error {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ConnectionError';
  }
}

const REASON_CODES: Record<string, ErrorCode> = {
  BadRequest: 'BadRequest',
  Invalid: 'Invalid',
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  Conflict: 'Conflict',
  Gone: 'Gone',
  Expired: 'Gone',
  Unauthorized: 'Unauthorized',
  Forbidden: 'Forbidden',
  RequestEntityTooLarge: 'RequestEntityTooLarge',
  UnsupportedMediaType: 'UnsupportedMediaType',
  MethodNotAllowed: 'MethodNotAllowed',
  NotAcceptable: 'BadRequest',
  Timeout: 'Timeout',
  ServerTimeout: 'Timeout',
  ServiceUnavailable: 'Unavailable',
  InternalError: 'Internal',
};

const HTTP_REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** An error `Status` returned by the API server; `message` is the server's own message. */
export class ApiStatusError extends FlotillaError {
  readonly status: Status;
  readonly httpCode: number;
  /** The Kubernetes reason (`NotFound`, `Invalid`, …). */
  readonly reason: string;

  constructor(status: Status, httpCode: number) {
    const reason = status.reason || HTTP_REASONS[httpCode] || 'Unknown';
    super(REASON_CODES[reason] ?? (httpCode >= 500 ? 'Internal' : 'BadRequest'), status.message || `the server responded with HTTP ${httpCode}`, {
      details: { ...(status.details ?? {}) },
    });
    this.status = status;
    this.httpCode = httpCode;
    this.reason = reason;
  }

  /** The same error with context in front of the server's message (`error when creating "pod.yaml": …`). */
  withContext(prefix: string): ApiStatusError {
    if (this.reason === 'Invalid') return this;
    return new ApiStatusError({ ...this.status, reason: this.reason, message: `${prefix}${this.message}` }, this.httpCode);
  }

  /** Builds the error from any HTTP error reply: a `Status` body if there is one, else the raw text. */
  static fromResponse(httpCode: number, bodyText: string): ApiStatusError {
    let status: Status | undefined;
    try {
      const parsed = JSON.parse(bodyText) as Partial<Status>;
      if (parsed && parsed.kind === 'Status') status = parsed as Status;
    } catch {
      /* not JSON */
    }
    if (!status) {
      const text = bodyText.trim();
      status = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        code: httpCode,
        reason: HTTP_REASONS[httpCode] ?? 'Unknown',
        message: text !== '' ? `the server responded with HTTP ${httpCode}: ${text.split('\n')[0]}` : `the server responded with HTTP ${httpCode}`,
      };
    }
    return new ApiStatusError(status, httpCode);
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof ApiStatusError && (e.reason === 'NotFound' || e.httpCode === 404);
}

/** The line a user sees for any error, kubectl's wording. */
export function formatError(e: unknown): string {
  if (e instanceof ApiStatusError) {
    // kubectl prints validation failures as they are; everything else with the reason in front.
    if (e.reason === 'Invalid') {
      const d = e.status.details;
      // kubectl lists several causes one a line, from the Status causes, instead of the server's `[a, b]`
      const causes = d?.causes ?? [];
      if (d?.kind && d.name && causes.length > 1) {
        return `The ${d.kind} "${d.name}" is invalid: \n${causes.map((c) => `* ${c.field ? `${c.field}: ` : ''}${c.message ?? ''}`).join('\n')}`;
      }
      if (d?.kind && d.name && e.message.startsWith(`${d.kind} "${d.name}" is invalid`)) return `The ${e.message}`;
      return e.message.startsWith('error') || e.message.startsWith('The ') ? e.message : `error: ${e.message}`;
    }
    if (e.reason === 'Unauthorized') return 'error: You must be logged in to the server (Unauthorized)';
    return `Error from server (${e.reason}): ${e.message}`;
  }
  if (e instanceof ConnectionError) return e.message;
  if (e instanceof UsageError) {
    return `error: ${e.message}\nSee 'flotctl ${e.command} --help' for usage.`;
  }
  if (e instanceof CliError) return e.message.startsWith('error: ') ? e.message : `error: ${e.message}`;
  if (e instanceof FlotillaError) return `error: ${e.message}`;
  const message = e instanceof Error ? e.message : String(e);
  return `error: ${message}`;
}

/** Every failure exits 1, as kubectl does. */
export function exitCodeFor(_e: unknown): number {
  return 1;
}
