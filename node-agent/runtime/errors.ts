// Typed errors of the container runtime layer. Every error that comes from an
// OCI runtime keeps the runtime's own one-line message, so a user sees why crun
// or runc refused (`executable file not found`, `setrlimit …`) instead of a code.
import { AlreadyExistsError, FlotillaError, NotFoundError } from '../../api/index.js';

/** The runtime has no container with this id (never created, or already deleted). */
export class ContainerNotFoundError extends NotFoundError {
  constructor(readonly containerId: string, runtimeMessage?: string) {
    super(`container ${containerId} not found${runtimeMessage ? `: ${runtimeMessage}` : ''}`, { containerId });
  }
}

/** A container with this id exists already. */
export class ContainerExistsError extends AlreadyExistsError {
  constructor(readonly containerId: string, runtimeMessage?: string) {
    super(`container ${containerId} already exists${runtimeMessage ? `: ${runtimeMessage}` : ''}`, { containerId });
  }
}

/** The operation needs a running container (exec, for one). */
export class ContainerNotRunningError extends FlotillaError {
  constructor(readonly containerId: string, state: string) {
    super('Conflict', `container ${containerId} is not running (state ${state})`, { details: { containerId, state } });
  }
}

/**
 * An OCI runtime or monitor command failed. `operation` is the runtime verb
 * (`create`, `start`, `kill`…), `runtimeMessage` the runtime's own words.
 */
export class RuntimeCommandError extends FlotillaError {
  constructor(
    readonly runtime: string,
    readonly operation: string,
    readonly runtimeMessage: string,
    readonly exitCode: number | null,
  ) {
    super('Internal', `${runtime} ${operation}: ${runtimeMessage || `exited with code ${exitCode}`}`, {
      details: { runtime, operation, exitCode },
    });
  }
}

/**
 * The OCI spec cannot be built from the input (a volume without a source, a
 * bad user…). `reason` is the container's waiting reason, as the kubelet tells
 * them apart: CreateContainerConfigError for what the kubelet checks itself
 * (runAsNonRoot), CreateContainerError for what the runtime refuses (a user
 * name the image does not define).
 */
export class InvalidContainerConfigError extends FlotillaError {
  constructor(
    message: string,
    readonly reason: 'CreateContainerConfigError' | 'CreateContainerError' = 'CreateContainerConfigError',
  ) {
    super('Invalid', message, { details: { reason } });
  }
}
