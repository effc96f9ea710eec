// The errors of request bodies (size, media type), shared by the body parsers.
import { FlotillaError } from '../../api/index.js';

/** Maximum request body, as Kubernetes: 3 MiB. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export class UnsupportedMediaTypeError extends FlotillaError {
  constructor(message: string) {
    super('UnsupportedMediaType', message);
  }
}

export class RequestEntityTooLargeError extends FlotillaError {
  constructor(message = `the request body is too large: the limit is ${MAX_BODY_BYTES} bytes (3 MiB)`) {
    super('RequestEntityTooLarge', message);
  }
}
