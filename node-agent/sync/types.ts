// What the agent knows of a pod on this host, read back from the runtime (the
// source of truth, relisted periodically): its sandbox and the latest instance
// of each container.

export type SandboxState = 'ready' | 'notready';

export interface RuntimeSandbox {
  id: string;
  state: SandboxState;
  /** Pod IP on eth0 (absent for hostNetwork pods, which use the host IP). */
  ip?: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

export type RuntimeContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface RuntimeContainer {
  /** Name of the container in the pod spec. */
  name: string;
  id: string;
  /** Sandbox the container runs in: containers of an older sandbox are stale. */
  sandboxId: string;
  state: RuntimeContainerState;
  exitCode?: number;
  /** OOMKilled, Error, Completed… as the runtime observed it. */
  reason?: string;
  message?: string;
  startedAt?: number;
  finishedAt?: number;
  /** How many times this container was started before this instance. */
  restartCount: number;
  image: string;
  imageID?: string;
  /** Hash of the container's spec when it was created: a change means replace it. */
  specHash: string;
  /**
   * How the instance before this one ended (the status's lastState), read back
   * from the runtime's record of it; absent for a first instance or one whose
   * predecessor is gone.
   */
  lastTermination?: ContainerTermination;
  /**
   * Set by the agent, not the runtime: this instance was killed because its
   * liveness or startup probe failed, so it restarts unless restartPolicy is
   * Never, whatever its exit code.
   */
  killedByProbe?: 'liveness' | 'startup';
}

/** The end of one container instance, as `lastState.terminated` shows it. */
export interface ContainerTermination {
  id: string;
  exitCode: number;
  reason?: string;
  message?: string;
  startedAt?: number;
  finishedAt?: number;
}

export interface PodRuntimeStatus {
  uid: string;
  sandbox?: RuntimeSandbox;
  /** Latest instance per container name. */
  containers: RuntimeContainer[];
}

/** Why a container cannot be started right now (image pull failures, bad config…). */
export interface ContainerWaitReason {
  reason: string;
  message: string;
  /** Milliseconds since the epoch before which no new attempt is made. */
  retryAfter?: number;
}
