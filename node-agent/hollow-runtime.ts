// A runtime that creates nothing: containers "run" the moment they are started.
// For control-plane scale tests (`flotilla-agent --hollow N`), never for pods.
import { randomBytes } from 'node:crypto';
import { NotSupportedError, realClock, type Clock, type Container, type Pod } from '../api/index.js';
import type { ContainerLogOptions, ExecRequest, PodRuntime } from './pod-runtime.js';
import { containerSpecHash } from './sync/plan.js';
import type { PodRuntimeStatus, RuntimeSandbox } from './sync/types.js';

export class HollowRuntime implements PodRuntime {
  private readonly pods = new Map<string, PodRuntimeStatus>();
  private nextIp = 2;

  constructor(
    private readonly podSubnetPrefix = '10.250.0',
    private readonly clock: Clock = realClock,
  ) {}

  async listPods(): Promise<PodRuntimeStatus[]> {
    return [...this.pods.values()];
  }

  async podStatus(pod: Pod): Promise<PodRuntimeStatus> {
    const uid = pod.metadata.uid!;
    return this.pods.get(uid) ?? { uid, containers: [] };
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
    st.containers = st.containers.filter((x) => x.name !== c.name);
    st.containers.push({
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
