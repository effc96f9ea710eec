// A runtime that creates nothing: containers "run" the moment they are started.
// For control-plane scale tests (`flotilla-agent --hollow N`), never for pods.
import { randomBytes } from 'node:crypto';
import { NotSupportedError, realClock, type Clock, type Container, type Pod } from '../api/index.js';
import type { ContainerLogOptions, ExecRequest, PodRuntime } from './pod-runtime.js';
import { containerSpecHash, isSidecar } from './sync/plan.js';
import type { PodRuntimeStatus, RuntimeSandbox } from './sync/types.js';

/**
 * A hollow pod's app containers exit by convention: pod annotation
 * `hollow.flotilla.io/exit-code: "<n>"` makes each of them exit with n once it
 * has run `hollow.flotilla.io/run-ms` milliseconds (default 0), so Jobs can be
 * tested on hollow nodes. Without it they run until stopped. Hollow runtime only.
 */
export const HOLLOW_EXIT_CODE_ANNOTATION = 'hollow.flotilla.io/exit-code';
export const HOLLOW_RUN_MS_ANNOTATION = 'hollow.flotilla.io/run-ms';

export class HollowRuntime implements PodRuntime {
  /** Nothing runs here: probes and lifecycle hooks pass without being run (node-agent/probes). */
  readonly hollow = true;
  private readonly pods = new Map<string, PodRuntimeStatus>();
  private nextIp = 2;

  constructor(
    private readonly podSubnetPrefix = '10.250.0',
    private readonly clock: Clock = realClock,
  ) {}

  /** Per container id: when it exits by the exit-code convention, and with what. */
  private readonly exits = new Map<string, { atMs: number; code: number }>();

  /** Containers due to exit by the annotation convention do so now. */
  private settle(st: PodRuntimeStatus): PodRuntimeStatus {
    const now = this.clock.now();
    for (const c of st.containers) {
      const x = this.exits.get(c.id);
      if (!x || c.state !== 'running' || now < x.atMs) continue;
      Object.assign(c, { state: 'exited', exitCode: x.code, reason: x.code === 0 ? 'Completed' : 'Error', finishedAt: x.atMs });
      this.exits.delete(c.id);
    }
    return st;
  }

  async listPods(): Promise<PodRuntimeStatus[]> {
    return [...this.pods.values()].map((st) => this.settle(st));
  }

  async podStatus(pod: Pod): Promise<PodRuntimeStatus> {
    const uid = pod.metadata.uid!;
    const st = this.pods.get(uid);
    return st ? this.settle(st) : { uid, containers: [] };
  }

  async setUpVolumes(): Promise<void> {
    // Hollow pods have no files.
  }

  async createSandbox(pod: Pod): Promise<RuntimeSandbox> {
    const uid = pod.metadata.uid!;
    const sandbox: RuntimeSandbox = {
      id: randomBytes(8).toString('hex'),
      state: 'ready',
      ip: `${this.podSubnetPrefix}.${(this.nextIp++ % 250) + 2}`,
      createdAt: this.clock.now(),
    };
    this.pods.set(uid, { uid, sandbox, containers: this.pods.get(uid)?.containers ?? [] });
    return sandbox;
  }

  async startContainer(pod: Pod, sandbox: RuntimeSandbox, c: Container, restartCount: number): Promise<void> {
    const st = this.pods.get(pod.metadata.uid!)!;
    // The instance replaced, if it ended, is the new one's lastState.
    const prev = st.containers.find((x) => x.name === c.name && x.state === 'exited');
    const last = prev ? { id: prev.id, exitCode: prev.exitCode ?? 137, reason: prev.reason, startedAt: prev.startedAt, finishedAt: prev.finishedAt } : undefined;
    st.containers = st.containers.filter((x) => x.name !== c.name);
    st.containers.push({
      ...(last ? { lastTermination: last } : {}),
      name: c.name,
      id: randomBytes(8).toString('hex'),
      sandboxId: sandbox.id,
      state: 'running',
      startedAt: this.clock.now(),
      restartCount,
      image: c.image,
      imageID: `hollow://${c.image}`,
      specHash: containerSpecHash(c),
    });
    const code = pod.metadata.annotations?.[HOLLOW_EXIT_CODE_ANNOTATION];
    if (code !== undefined && /^\d{1,3}$/.test(code) && pod.spec.containers.some((x) => x.name === c.name)) {
      const runMs = Number(pod.metadata.annotations?.[HOLLOW_RUN_MS_ANNOTATION] ?? 0) || 0;
      this.exits.set(st.containers[st.containers.length - 1]!.id, { atMs: this.clock.now() + runMs, code: Number(code) });
    }
    // A regular init container has nothing to do: it completes at once (a sidecar runs on).
    const init = pod.spec.initContainers?.find((x) => x.name === c.name);
    if (init && !isSidecar(init)) Object.assign(st.containers[st.containers.length - 1]!, { state: 'exited', exitCode: 0, reason: 'Completed', finishedAt: this.clock.now() });
  }

  async stopContainer(pod: Pod, containerId: string): Promise<void> {
    const st = this.pods.get(pod.metadata.uid!);
    const c = st?.containers.find((x) => x.id === containerId);
    if (c && c.state === 'running') Object.assign(c, { state: 'exited', exitCode: 0, reason: 'Completed', finishedAt: this.clock.now() });
  }

  async killPod(pod: { metadata: { uid?: string } }): Promise<void> {
    if (pod.metadata.uid) this.pods.delete(pod.metadata.uid);
  }

  // Hollow containers have no processes, so there is nothing to read or run.
  containerLogs(pod: Pod, container: string, _opts: ContainerLogOptions): AsyncIterable<Uint8Array> {
    throw new NotSupportedError(`pod ${pod.metadata.namespace}/${pod.metadata.name} runs on a hollow node: container "${container}" has no logs`);
  }

  async exec(pod: Pod, container: string, _req: ExecRequest): Promise<number> {
    throw new NotSupportedError(`pod ${pod.metadata.namespace}/${pod.metadata.name} runs on a hollow node: cannot exec in container "${container}"`);
  }
}
