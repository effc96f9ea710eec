// Pure decisions before the controller dials a node for logs or exec: which
// container, and whether what the user asks for can exist yet. Kubernetes'
// wording, so kubectl users recognise the answers.
import { BadRequestError, type ContainerStatus, type Pod } from '../../api/index.js';

function statusOf(pod: Pod, container: string): ContainerStatus | undefined {
  const s = pod.status;
  return [...(s?.initContainerStatuses ?? []), ...(s?.containerStatuses ?? [])].find((c) => c.name === container);
}

/** The container a request means: the named one, or the only one. */
export function pickContainer(pod: Pod, requested: string | undefined): string {
  const name = pod.metadata.name ?? '';
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  if (requested) {
    if (!all.some((c) => c.name === requested)) throw new BadRequestError(`container ${requested} is not valid for pod ${name}`);
    return requested;
  }
  if (pod.spec.containers.length === 1) return pod.spec.containers[0]!.name;
  throw new BadRequestError(`a container name must be specified for pod ${name}, choose one of: [${pod.spec.containers.map((c) => c.name).join(' ')}]`);
}

function requireScheduled(pod: Pod): string {
  const node = pod.spec.nodeName;
  if (!node) throw new BadRequestError(`pod ${pod.metadata.name ?? ''} does not have a host assigned`);
  return node;
}

/** Throws 400 when the log asked for cannot exist; returns the pod's node. */
export function checkLogTarget(pod: Pod, container: string, previous: boolean): string {
  const node = requireScheduled(pod);
  const name = pod.metadata.name ?? '';
  const st = statusOf(pod, container);
  if (previous) {
    if (!st?.lastState?.terminated && !(st && st.restartCount > 0)) {
      throw new BadRequestError(`previous terminated container "${container}" in pod "${name}" not found`);
    }
    return node;
  }
  // A container that never started has no log; one waiting to restart still has its last one.
  if (!st || (st.state?.waiting && !st.lastState?.terminated && !st.containerID)) {
    throw new BadRequestError(`container "${container}" in pod "${name}" is waiting to start: ${st?.state?.waiting?.reason ?? 'ContainerCreating'}`);
  }
  return node;
}

/** Throws 400 unless the container is running; returns the pod's node. */
export function checkExecTarget(pod: Pod, container: string): string {
  const node = requireScheduled(pod);
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') {
    throw new BadRequestError(`cannot exec into a container in a completed pod; current phase is ${phase}`);
  }
  const st = statusOf(pod, container);
  if (!st?.state?.running) {
    const why = st?.state?.waiting?.reason ?? (st?.state?.terminated ? `terminated (${st.state.terminated.reason ?? 'Error'})` : 'ContainerCreating');
    throw new BadRequestError(`container "${container}" in pod "${pod.metadata.name ?? ''}" is not running: ${why}`);
  }
  return node;
}
