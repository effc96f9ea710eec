// The seam between the agent's sync loop and whatever makes pods real. The real
// implementation builds sandboxes (pinned netns + pause + pod network) and runs
// containers with crun under conmon; the hollow one (for control-plane scale
// tests, `flotilla-agent --hollow N`) only pretends.
import type { Container, Pod } from '../api/index.js';
import type { ResolvedEnvVar } from './runtime/index.js';
import type { VolumeFiles } from './sandbox/atomic-writer.js';
import type { PodRuntimeStatus, RuntimeSandbox } from './sync/types.js';

/** What the agent resolved for one start of a container (node-agent/config/). */
export interface ContainerConfig {
  /** The container's own environment: valueFrom and envFrom read, $(VAR) expanded. */
  env: ResolvedEnvVar[];
  /** Registry credentials from the pod's imagePullSecrets (node-agent/images/pull-secrets.ts). */
  pullCredentials?: import('./images/index.js').PullCredentials;
}

export interface PodRuntime {
  /** Every pod this runtime has anything of: the relist that is the source of truth. */
  listPods(): Promise<PodRuntimeStatus[]>;
  podStatus(pod: Pod): Promise<PodRuntimeStatus>;
  /**
   * Writes the files of the pod's configMap and secret volumes (CONTENTS, by
   * volume name; volumes not in it are left as they are), atomically: a reader
   * sees the old files or the new ones, never a mix. Called before the sandbox
   * is made and on later syncs, so a changed ConfigMap/Secret reaches running
   * containers; unchanged contents write nothing.
   */
  setUpVolumes(pod: Pod, contents: ReadonlyMap<string, VolumeFiles>): Promise<void>;
  /** Creates (or recreates) the pod's sandbox: network namespace, pause, pod network. */
  createSandbox(pod: Pod): Promise<RuntimeSandbox>;
  /**
   * Pulls the image if needed, creates and starts the container in the sandbox.
   * CONFIG is what the agent resolved for it (absent: the plain values of its
   * env; a valueFrom it cannot resolve without the controller fails the start).
   * Throws a ContainerStartError whose reason becomes the container's waiting reason.
   */
  startContainer(pod: Pod, sandbox: RuntimeSandbox, container: Container, restartCount: number, config?: ContainerConfig): Promise<void>;
  /** SIGTERM, wait up to the grace period, SIGKILL. The exited container stays for its status. */
  stopContainer(pod: Pod, containerId: string, gracePeriodSeconds: number): Promise<void>;
  /**
   * Stops every container and the sandbox, releasing the pod IP. A pod being
   * deleted (deletionTimestamp set) or given as a bare uid is removed entirely;
   * any other pod keeps its exited containers' statuses and logs (as the
   * kubelet keeps dead containers), so a finished pod still reports them.
   */
  killPod(pod: Pod | { metadata: { uid: string; name?: string; namespace?: string } }, gracePeriodSeconds: number): Promise<void>;
  /**
   * The log of a container of the pod (latest instance, or the one before it with
   * `previous`), as raw bytes of text lines. With `follow` it ends when the
   * container exits or `signal` aborts. Throws NotFoundError for an unknown container.
   */
  containerLogs(pod: Pod, container: string, opts: ContainerLogOptions): AsyncIterable<Uint8Array>;
  /** Runs a command in a running container of the pod; resolves to its exit code. */
  exec(pod: Pod, container: string, req: ExecRequest): Promise<number>;
}

/** The query of GET …/pods/{name}/log, parsed. */
export interface ContainerLogOptions {
  follow?: boolean;
  tailLines?: number;
  previous?: boolean;
  timestamps?: boolean;
  sinceSeconds?: number;
  limitBytes?: number;
  signal?: AbortSignal;
}

export interface ExecRequest {
  command: string[];
  /** Bytes for the command's stdin (absent: stdin is /dev/null). */
  stdin?: AsyncIterable<Uint8Array>;
  tty?: boolean;
  onStdout(chunk: Uint8Array): void;
  onStderr(chunk: Uint8Array): void;
  signal?: AbortSignal;
}

/** Why a container could not start; `reason` is shown as its waiting reason. */
export class ContainerStartError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    /** Back-off before the next attempt, in ms. */
    readonly retryAfterMs = 10_000,
  ) {
    super(message);
    this.name = 'ContainerStartError';
  }
}
