// Typed errors shared by every component. Each kind has a stable `code`
// (never reworded: tests, the CLI and the API map on it) and a one-line message
// that is safe to show to a user. Conversion to HTTP Status objects, gRPC codes
// and CLI exit codes happens in exactly one place per surface, keyed on `code`.

export type ErrorCode =
  | 'BadRequest'
  | 'Invalid'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Unauthorized'
  | 'Forbidden'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'MethodNotAllowed'
  | 'NotSupported'
  | 'Timeout'
  | 'TooManyRequests'
  | 'Unavailable'
  | 'Internal';

export interface FieldCause {
  /** Field path such as `spec.containers[0].image`. */
  field: string;
  /** Kubernetes cause type such as `FieldValueRequired`. */
  reason: string;
  message: string;
}

export class FlotillaError extends Error {
  readonly code: ErrorCode;
  /** True when the same call may succeed if tried again later. */
  readonly retryable: boolean;
  readonly causes: FieldCause[];
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { retryable?: boolean; causes?: FieldCause[]; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.causes = opts.causes ?? [];
    this.details = opts.details ?? {};
  }
}

export class BadRequestError extends FlotillaError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super('BadRequest', message, opts);
  }
}

export class InvalidError extends FlotillaError {
  constructor(message: string, causes: FieldCause[] = [], details: Record<string, unknown> = {}) {
    super('Invalid', message, { causes, details });
  }
}

export class NotFoundError extends FlotillaError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('NotFound', message, { details });
  }
}

export class AlreadyExistsError extends FlotillaError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('AlreadyExists', message, { details });
  }
}

export class ConflictError extends FlotillaError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('Conflict', message, { details, retryable: true });
  }
}

export class GoneError extends FlotillaError {
  constructor(message: string) {
    super('Gone', message);
  }
}

export class UnauthorizedError extends FlotillaError {
  constructor(message = 'Unauthorized') {
    super('Unauthorized', message);
  }
}

export class ForbiddenError extends FlotillaError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('Forbidden', message, { details });
  }
}

export class NotSupportedError extends FlotillaError {
  constructor(message: string) {
    super('NotSupported', message);
  }
}

export class UnavailableError extends FlotillaError {
  constructor(message: string, opts: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super('Unavailable', message, {
      retryable: true,
      ...(opts.cause !== undefined ? { cause: opts.cause } : {}),
      ...(opts.retryAfterSeconds !== undefined ? { details: { retryAfterSeconds: opts.retryAfterSeconds } } : {}),
    });
  }
}

export class TimeoutError extends FlotillaError {
  constructor(message: string, opts: { causes?: FieldCause[]; retryAfterSeconds?: number } = {}) {
    super('Timeout', message, {
      retryable: true,
      ...(opts.causes ? { causes: opts.causes } : {}),
      ...(opts.retryAfterSeconds !== undefined ? { details: { retryAfterSeconds: opts.retryAfterSeconds } } : {}),
    });
  }
}

/** 429: e.g. an eviction that would violate a PodDisruptionBudget. */
export class TooManyRequestsError extends FlotillaError {
  constructor(message: string, opts: { causes?: FieldCause[]; retryAfterSeconds?: number } = {}) {
    super('TooManyRequests', message, {
      retryable: true,
      ...(opts.causes ? { causes: opts.causes } : {}),
      ...(opts.retryAfterSeconds !== undefined ? { details: { retryAfterSeconds: opts.retryAfterSeconds } } : {}),
    });
  }
}

export class InternalError extends FlotillaError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super('Internal', message, opts);
  }
}

export function isFlotillaError(e: unknown): e is FlotillaError {
  return e instanceof FlotillaError;
}

/** Wraps anything thrown into a FlotillaError, keeping typed errors as they are. */
export function toFlotillaError(e: unknown): FlotillaError {
  if (e instanceof FlotillaError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new InternalError(message, { cause: e });
}
