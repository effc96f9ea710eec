// Errors of the pod network: what CHECK found wrong, named precisely enough that
// the sandbox manager (or a CNI runtime) can tell the user which piece is broken.
import { FlotillaError, type ErrorCode } from '../../api/index.js';

/** CHECK found the attachment differs from what ADD left: `what` names the piece. */
export class PodNetworkCheckError extends FlotillaError {
  constructor(
    readonly containerId: string,
    readonly what: string,
    message: string,
    code: ErrorCode = 'NotFound',
  ) {
    super(code, `pod network check of ${containerId}: ${message}`, { details: { containerId, what } });
  }
}
