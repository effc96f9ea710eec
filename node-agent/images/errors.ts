// Typed errors of the image store. Every one carries a stable `kind` (what went
// wrong, for tests and metrics) and a `reason` fit for a container's waiting
// reason (`ErrImagePull`, `ErrImageNeverPull`, `CreateContainerError`), and a
// one-line message that includes the registry's own words when there are any.
import { FlotillaError, type ErrorCode } from '../../api/index.js';

export type ImageErrorKind =
  | 'InvalidReference'
  | 'ManifestUnknown'
  | 'BlobUnknown'
  | 'RegistryUnauthorized'
  | 'RegistryDenied'
  | 'RegistryError'
  | 'RegistryUnavailable'
  | 'DigestMismatch'
  | 'SizeMismatch'
  | 'UnsupportedMediaType'
  | 'NoMatchingPlatform'
  | 'InvalidImage'
  | 'ImageNotPresent'
  | 'UnsafeLayerPath'
  | 'LayerUnpackFailed'
  | 'InvalidArchive'
  | 'RootfsFailed';

export type ImageErrorReason = 'ErrImagePull' | 'ErrImageNeverPull' | 'InvalidImageName' | 'CreateContainerError';

const CODE_OF: Record<ImageErrorKind, ErrorCode> = {
  InvalidReference: 'Invalid',
  ManifestUnknown: 'NotFound',
  BlobUnknown: 'NotFound',
  RegistryUnauthorized: 'Unauthorized',
  RegistryDenied: 'Forbidden',
  RegistryError: 'BadRequest',
  RegistryUnavailable: 'Unavailable',
  DigestMismatch: 'Invalid',
  SizeMismatch: 'Invalid',
  UnsupportedMediaType: 'UnsupportedMediaType',
  NoMatchingPlatform: 'NotFound',
  InvalidImage: 'Invalid',
  ImageNotPresent: 'NotFound',
  UnsafeLayerPath: 'Invalid',
  LayerUnpackFailed: 'Internal',
  InvalidArchive: 'Invalid',
  RootfsFailed: 'Internal',
};

const REASON_OF: Partial<Record<ImageErrorKind, ImageErrorReason>> = {
  InvalidReference: 'InvalidImageName',
  ImageNotPresent: 'ErrImageNeverPull',
  RootfsFailed: 'CreateContainerError',
};

export class ImageError extends FlotillaError {
  readonly kind: ImageErrorKind;
  /** The waiting reason a container shows for this failure. */
  readonly reason: ImageErrorReason;

  constructor(kind: ImageErrorKind, message: string, opts: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(CODE_OF[kind], message, { retryable: opts.retryable ?? kind === 'RegistryUnavailable', cause: opts.cause, details: { kind, ...opts.details } });
    this.kind = kind;
    this.reason = REASON_OF[kind] ?? 'ErrImagePull';
  }
}

/** The digest or size of written content differs from what was expected; nothing was kept. */
export class DigestMismatchError extends ImageError {
  constructor(what: string, expected: string, actual: string) {
    super('DigestMismatch', `${what}: digest mismatch: expected ${expected}, got ${actual}`, { details: { expected, actual } });
  }
}

export class SizeMismatchError extends ImageError {
  constructor(what: string, expected: number, actual: number) {
    super('SizeMismatch', `${what}: size mismatch: expected ${expected} bytes, got ${actual}${actual < expected ? ' (truncated)' : ''}`, {
      details: { expected, actual },
    });
  }
}

/** A layer entry that would write outside the snapshot root. */
export class UnsafeLayerPathError extends ImageError {
  constructor(entry: string, why: string) {
    super('UnsafeLayerPath', `unsafe layer entry ${JSON.stringify(entry)}: ${why}`, { details: { entry } });
  }
}

export function isImageError(e: unknown): e is ImageError {
  return e instanceof ImageError;
}
