// The real PodRuntime: pod sandboxes (pinned netns + pause + pod network, see
// sandbox/sandbox-manager.ts) and containers on crun/runc under conmon, with
// rootfs from the image store. Nothing about a pod is held only in memory:
// listPods/podStatus read sandbox records and container labels back from disk,
// so a new instance on the same dirs (an agent restart) re-adopts what runs.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import {
  componentLogger,
  ConflictError,
  NotFoundError,
  realClock,
  toFlotillaError,
  type Clock,
  type Container,
  type Logger,
  type Pod,
} from '../api/index.js';
import { pausePath } from '../native/index.js';
import type { HostPortMapper, PodNetwork } from '../netplugin/index.js';
import { defaultPullPolicy, ImageError, ImageService, type PullCredentials, type PullProgress } from './images/index.js';
import { ContainerStartError, type ContainerConfig, type ContainerLogOptions, type ExecRequest, type PodRuntime } from './pod-runtime.js';
import { PullEventReporter, type PodEventSink } from './pull-events.js';
import {
  buildOciSpec,
  createContainerRuntime,
  InvalidContainerConfigError,
  RuntimeCommandError,
  type ContainerManager,
  type ContainerRuntime,
  type ContainerStatus,
} from './runtime/index.js';
import { containerSpecInput } from './sandbox/container-spec.js';
import { execStreaming } from './sandbox/exec-stream.js';
import { formatLabels, instancesByName, parseLabels, runtimeContainerBase, type ContainerLabels, type Instance } from './sandbox/labels.js';
import { NodeLayout } from './sandbox/layout.js';
import { SandboxManager, type SandboxRecord } from './sandbox/sandbox-manager.js';
import { UndoStack } from './sandbox/undo.js';
import { DATA_DIR_NAME, type VolumeFiles } from './sandbox/atomic-writer.js';
import { ensureHostPath, podVolumes, resolvedVolumes, setUpConfigVolume } from './sandbox/volumes.js';
import { resolveEnv } from './config/env.js';
import { containerSpecHash, isSidecar } from './sync/plan.js';
import type { ContainerTermination, PodRuntimeStatus, RuntimeContainer, RuntimeSandbox } from './sync/types.js';

export interface NodeRuntimeOptions {
  stateDir: string;
  runDir: string;
  /** `crun` (default) or `runc`. */
  runtimeName?: string;
  /** Absolute cgroup parent of this agent's pods, e.g. `/flotilla/<node>` (several agents on one host must differ). */
  cgroupParent?: string;
  /** The pod network; absent: sandboxes get loopback only. */
  podNetwork?: PodNetwork;
  /** Forwards pods' host ports (nftables DNAT); reconciled with the recorded sandboxes when the runtime is built. */
  hostPorts?: HostPortMapper;
  /** The image store; built under `<stateDir>/images` when absent. */
  images?: ImageService;
  /** Registries spoken to over plain HTTP (HOST:PORT), when the store is built here. */
  insecureRegistries?: string[];
  /** Pull a registry's images from another endpoint (`{ 'docker.io': '10.200.0.1:5000' }`), when the store is built here. */
  registryMirrors?: Record<string, string>;
  /** pids limit of each container's cgroup. */
  pidsLimit?: number;
  /** A container's log file is truncated by its monitor beyond this size (the kubelet's containerLogMaxSize; default 10 MiB). */
  containerLogMaxBytes?: number;
  pauseBinary?: string;
  /** Pods' DNS (the kubelet's --cluster-dns, --cluster-domain); absent: pods get the node's resolv.conf. */
  dns?: { clusterDNS: string[]; clusterDomain: string };
  /** The node's resolv.conf (default /etc/resolv.conf). */
  resolvConf?: string;
  /** Pod events of the runtime (image pulls: Pulling, progress, Pulled); absent: none. */
  events?: PodEventSink;
  clock?: Clock;
  log?: Logger;
}

/** A container still `created` this long after its create was never started (create and start run back to back). */
const STUCK_CREATED_MS = 60_000;

type PodLike = Pod | { metadata: { uid?: string; name?: string; namespace?: string } };

interface FoundContainer {
  id: string;
  labels: ContainerLabels;
  createdAt: number;
}

export class NodeRuntime implements PodRuntime {
  readonly layout: NodeLayout;
  readonly images: ImageService;
  readonly containerRuntime: ContainerRuntime;
  readonly sandboxes: SandboxManager;
  private readonly containers: ContainerManager;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly pidsLimit: number;
  private readonly logSizeMax: number;
  private readonly events: PodEventSink | undefined;

  private constructor(opts: NodeRuntimeOptions, images: ImageService) {
    this.log = opts.log!;
    this.events = opts.events;
    this.clock = opts.clock ?? realClock;
    this.layout = new NodeLayout(opts.stateDir, opts.runDir);
    this.images = images;
    this.containerRuntime = createContainerRuntime({
      runDir: opts.runDir,
      runtimeName: opts.runtimeName,
      cgroupParent: opts.cgroupParent,
      clock: this.clock,
      log: componentLogger('containers', this.log),
    });
    this.containers = this.containerRuntime.containers;
    this.pidsLimit = opts.pidsLimit ?? 4096;
    this.logSizeMax = opts.containerLogMaxBytes ?? 10 * 1024 * 1024;
    this.sandboxes = new SandboxManager({
      layout: this.layout,
      containers: this.containers,
      cgroups: this.containerRuntime.cgroups,
      podNetwork: opts.podNetwork,
      hostPorts: opts.hostPorts,
      pauseBinary: opts.pauseBinary ?? pausePath(),
      ...(opts.dns ? { dns: opts.dns } : {}),
      ...(opts.resolvConf ? { resolvConf: opts.resolvConf } : {}),
      clock: this.clock,
      log: componentLogger('sandbox', this.log),
    });
  }

  /** Builds the runtime and its image store (initialised); nothing running is touched. LOG is the agent's. */
  static async create(opts: NodeRuntimeOptions): Promise<NodeRuntime> {
    // One `pod-runtime` component logger; images, containers and sandboxes are its children.
    const log = componentLogger('pod-runtime', opts.log);
    const images =
      opts.images ??
      (await new ImageService({
        stateDir: `${opts.stateDir}/images`,
        registry: { insecureRegistries: opts.insecureRegistries ?? [], mirrors: opts.registryMirrors ?? {} },
        log: componentLogger('images', log),
        clock: opts.clock,
      }).init());
    for (const d of [opts.stateDir, opts.runDir]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    const rt = new NodeRuntime({ ...opts, log }, images);
    await rt.sandboxes.reconcileHostPorts();
    return rt;
  }

  // ------------------------------------------------------------------ reading back from disk

  /** Every container this runtime made, by pod uid (labels only: no runtime call). */
  private found(): Map<string, FoundContainer[]> {
    const byPod = new Map<string, FoundContainer[]>();
    for (const id of this.containers.ids()) {
      const meta = this.containers.metadata(id);
      const labels = parseLabels(meta?.labels);
      if (!meta || !labels) continue;
      const list = byPod.get(labels.pod.uid) ?? [];
      list.push({ id, labels, createdAt: meta.createdAt });
      byPod.set(labels.pod.uid, list);
    }
    return byPod;
  }

  private podContainers(uid: string): FoundContainer[] {
    return this.found().get(uid) ?? [];
  }

  private instances(uid: string, found = this.podContainers(uid)): Map<string, Instance<FoundContainer>[]> {
    return instancesByName(found.map((c) => ({ labels: c.labels, createdAt: c.createdAt, value: c })));
  }

  async listPods(): Promise<PodRuntimeStatus[]> {
    // One scan of the container records for all pods (not one per pod).
    const found = this.found();
    const uids = new Set(found.keys());
    for (const dir of [this.layout.podRunDirs(), this.layout.podStateDirs()]) {
      try {
        for (const u of fs.readdirSync(dir)) uids.add(u);
      } catch {
        /* none yet */
      }
    }
    const out: PodRuntimeStatus[] = [];
    for (const uid of uids) out.push(await this.statusOf(uid, found.get(uid) ?? []));
    return out;
  }

  podStatus(pod: Pod): Promise<PodRuntimeStatus> {
    return this.statusOf(pod.metadata.uid!);
  }

  private async statusOf(uid: string, found = this.podContainers(uid)): Promise<PodRuntimeStatus> {
    const recs = this.sandboxes.records(uid);
    const latest = recs[recs.length - 1];
    const sandbox: RuntimeSandbox | undefined = latest ? await this.sandboxes.runtimeSandbox(latest) : undefined;
    const containers: RuntimeContainer[] = [];
    for (const [, list] of this.instances(uid, found)) {
      const c = list[0]!.value;
      const last = await this.previousTermination(list[1]?.value);
      const base = { ...runtimeContainerBase(c.labels, c.id), ...(last ? { lastTermination: last } : {}) };
      let st: ContainerStatus;
      try {
        st = await this.containers.status(c.id);
      } catch (e) {
        this.log.warn({ id: c.id, err: toFlotillaError(e).message }, 'container status unreadable');
        containers.push({ ...base, state: 'unknown' });
        continue;
      }
      if (st.state === 'created' && st.startedAt === undefined && this.clock.now() - st.createdAt > STUCK_CREATED_MS) {
        // Created but never started: the agent stopped between create and start. Reported as a
        // failed run so the planner replaces it, instead of "ContainerCreating" forever.
        containers.push({
          ...base,
          state: 'exited',
          exitCode: 128,
          reason: 'Error',
          message: 'the container was created but never started (the agent stopped while starting it)',
          finishedAt: st.createdAt,
        });
        continue;
      }
      containers.push({
        ...base,
        state: st.state,
        ...(st.exitCode !== undefined ? { exitCode: st.exitCode } : {}),
        ...(st.reason ? { reason: st.reason } : {}),
        ...(st.message ? { message: st.message } : {}),
        ...(st.startedAt !== undefined ? { startedAt: st.startedAt } : {}),
        ...(st.finishedAt !== undefined ? { finishedAt: st.finishedAt } : {}),
      });
    }
    return { uid, ...(sandbox ? { sandbox } : {}), containers };
  }

  /**
   * How a container's previous instance ended (its lastState), from the final
   * status recorded with it on disk, so it survives an agent restart; undefined
   * when there is none or it did not exit.
   */
  private async previousTermination(prev: FoundContainer | undefined): Promise<ContainerTermination | undefined> {
    if (!prev) return undefined;
    const st = await this.containers.status(prev.id).catch(() => undefined);
    if (!st || st.state !== 'exited') return undefined;
    return {
      id: prev.id,
      exitCode: st.exitCode ?? 137,
      ...(st.reason ? { reason: st.reason } : {}),
      ...(st.message ? { message: st.message } : {}),
      ...(st.startedAt !== undefined ? { startedAt: st.startedAt } : {}),
      ...(st.finishedAt !== undefined ? { finishedAt: st.finishedAt } : {}),
    };
  }

  // ------------------------------------------------------------------ volumes

  async setUpVolumes(pod: Pod, contents: ReadonlyMap<string, VolumeFiles>): Promise<void> {
    const podName = `${pod.metadata.namespace}/${pod.metadata.name}`;
    for (const v of podVolumes(pod, this.layout)) {
      if (v.kind !== 'configMap' && v.kind !== 'secret') continue;
      const files = contents.get(v.name);
      if (!files) continue;
      const r = setUpConfigVolume(v, files, this.clock.now());
      if (v.kind === 'secret' && !r.tmpfs) this.log.warn({ pod: podName, volume: v.name }, 'secret volume is on disk: mounting a tmpfs was refused');
      if (r.written) this.log.info({ pod: podName, volume: v.name, kind: v.kind, files: files.size }, 'volume files written');
    }
  }

  // ------------------------------------------------------------------ sandboxes

  async createSandbox(pod: Pod): Promise<RuntimeSandbox> {
    const rec = await this.sandboxes.create(pod);
    return this.sandboxes.runtimeSandbox(rec);
  }

  // ------------------------------------------------------------------ containers

  async startContainer(pod: Pod, sandbox: RuntimeSandbox, c: Container, restartCount: number, config?: ContainerConfig): Promise<void> {
    const uid = pod.metadata.uid!;
    const rec = this.sandboxes.records(uid).find((r) => r.id === sandbox.id);
    const placement = rec ? await this.sandboxes.placement(rec) : undefined;
    if (!rec || !placement) throw new ContainerStartError('CreateContainerError', `the pod's sandbox ${sandbox.id.slice(0, 12)} is not running`, 2_000);

    const image = await this.pullImage(pod, c, config?.pullCredentials);
    await this.pruneOldInstances(uid, c.name);

    const id = randomBytes(32).toString('hex');
    // The agent resolves env from ConfigMaps/Secrets (config/); without it only what needs no controller.
    let env = config?.env;
    if (!env) {
      const r = resolveEnv(pod, c, { configmaps: new Map(), secrets: new Map() }, { podIP: pod.spec.hostNetwork ? undefined : sandbox.ip, allocatable: {} });
      if (!r.ok) throw new ContainerStartError('CreateContainerConfigError', r.message);
      env = r.env;
    }
    const undo = new UndoStack();
    try {
      const vols = podVolumes(pod, this.layout);
      for (const vm of c.volumeMounts ?? []) {
        const v = vols.find((x) => x.name === vm.name);
        if (v?.kind === 'hostPath') ensureHostPath(v);
        // Written by setUpVolumes before the sandbox: a bind mount of a missing dir would only fail in crun.
        if ((v?.kind === 'configMap' || v?.kind === 'secret') && !fs.existsSync(join(v.path, DATA_DIR_NAME))) {
          throw new ContainerStartError('CreateContainerConfigError', `${v.kind} volume "${v.name}" has not been set up`, 2_000);
        }
      }
      undo.push('rootfs', () => this.images.removeRootfs(id));
      const prepared = await this.images.prepareRootfs(id, c.image).catch((e: unknown) => {
        throw e instanceof ImageError ? new ContainerStartError(e.reason, e.message) : e;
      });
      let spec;
      try {
        spec = buildOciSpec(
          containerSpecInput({
            pod,
            container: c,
            env,
            image: prepared.config,
            rootfs: prepared.rootfs,
            sandbox: placement,
            hostname: rec.hostname,
            volumes: resolvedVolumes(vols),
            etc: this.sandboxes.etcFiles(uid),
            cgroupsPath: this.containerRuntime.cgroups.containerPath(uid, id),
            maxOpenFiles: this.containerRuntime.maxOpenFiles,
            pidsLimit: this.pidsLimit,
          }),
        );
      } catch (e) {
        if (e instanceof InvalidContainerConfigError) throw new ContainerStartError(e.reason, e.message);
        throw e;
      }
      const labels = formatLabels({
        pod: rec.pod,
        kind: 'container',
        containerName: c.name,
        sandboxId: rec.id,
        restartCount,
        specHash: containerSpecHash(c),
        image: c.image,
        imageId: image.manifestDigest,
      });
      try {
        await this.containers.run({ id, spec, logPath: this.layout.logPath(uid, c.name, restartCount, id), labels, logSizeMax: this.logSizeMax });
      } catch (e) {
        // crun's own words (`executable file not found in $PATH`…) are what the user needs.
        if (e instanceof RuntimeCommandError) throw new ContainerStartError('RunContainerError', e.message);
        throw e;
      }
    } catch (e) {
      for (const f of await undo.rollback()) this.log.warn({ id, what: f.what, err: String(f.error) }, 'undo after failed start failed');
      throw e;
    }
    undo.commit();
    this.log.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, container: c.name, id: id.slice(0, 12), restartCount }, 'container started');
  }

  private async pullImage(pod: Pod, c: Container, credentials?: PullCredentials) {
    const policy = c.imagePullPolicy ?? defaultPullPolicy(c.image);
    const podName = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const sink = this.events;
    const report = sink ? new PullEventReporter(c.image, this.clock, (type, reason, message) => sink(pod, type, reason, message)) : undefined;
    // Whether the registry will be asked (what the kubelet announces as Pulling). A
    // reference that does not parse is left to ensureImage, which says why.
    const present = policy === 'Always' ? false : await this.images.getImage(c.image).then((i) => i !== undefined, () => undefined);
    if (report && present === false && policy !== 'Never') await report.pulling();
    let announced = false;
    const onProgress = (p: PullProgress) => {
      report?.progress(p);
      // Only a pull that transfers something is news; a cached image says nothing.
      if (!announced && !p.done && p.bytesDone < p.bytesTotal) {
        announced = true;
        this.log.info({ pod: podName, container: c.name, image: c.image, layers: p.layersTotal, bytesTotal: p.bytesTotal }, 'pulling image');
      }
      if (p.done && announced) this.log.info({ pod: podName, image: c.image, bytesTransferred: p.bytesTransferred }, 'image pulled');
    };
    try {
      const image = await this.images.ensureImage(c.image, policy, onProgress, credentials);
      await report?.finished(image.size + image.manifest.config.size);
      return image;
    } catch (e) {
      await report?.flush();
      if (e instanceof ImageError) {
        this.log.warn({ pod: podName, container: c.name, image: c.image, reason: e.reason, err: e.message }, 'image pull failed');
        throw new ContainerStartError(e.reason, e.message);
      }
      throw e;
    }
  }

  /**
   * Before a new instance of a container is made, every instance but the
   * latest goes: the latest stays as the "previous" one (its status and
   * `logs --previous`), older ones are of no further use.
   */
  private async pruneOldInstances(uid: string, name: string): Promise<void> {
    const list = this.instances(uid).get(name) ?? [];
    for (const old of list.slice(1)) {
      await this.removeContainer(old.value.id).catch((e) => this.log.warn({ id: old.value.id, err: toFlotillaError(e).message }, 'removing an old instance failed'));
    }
  }

  private async removeContainer(id: string): Promise<void> {
    await this.containers.remove(id, { removeLog: true });
    await this.images.removeRootfs(id);
  }

  async stopContainer(pod: Pod, containerId: string, gracePeriodSeconds: number): Promise<void> {
    const meta = this.containers.metadata(containerId);
    if (!meta || parseLabels(meta.labels)?.pod.uid !== pod.metadata.uid) return;
    await this.containers.stop(containerId, gracePeriodSeconds);
  }

  /**
   * Stops the pod's containers (SIGTERM, grace, SIGKILL) and tears its
   * sandboxes down. A pod being deleted (deletionTimestamp set) or one the
   * controller no longer has (a bare uid) is removed entirely. Any other pod —
   * finished for good, or about to get a new sandbox — keeps its containers'
   * records, final statuses and logs (their processes, cgroups and rootfs
   * mounts are freed), so it goes on reporting Succeeded/Failed with exit
   * codes, and a new instance still counts restarts and has `logs --previous`.
   */
  async killPod(pod: PodLike, gracePeriodSeconds: number): Promise<void> {
    const uid = pod.metadata.uid!;
    const removeAll = !('spec' in pod) || pod.metadata.deletionTimestamp !== undefined;
    const all = this.podContainers(uid);
    const apps = all.filter((c) => c.labels.kind === 'container');
    const errors: string[] = [];
    const stopOne = async (c: FoundContainer, grace: number) => {
      try {
        await this.containers.stop(c.id, grace);
        if (removeAll) await this.removeContainer(c.id);
        else {
          await this.containers.release(c.id);
          await this.images.removeRootfs(c.id);
        }
      } catch (e) {
        errors.push(`container ${c.labels.containerName}: ${toFlotillaError(e).message}`);
      }
    };
    // Sidecars (init containers with restartPolicy Always) stop after the other
    // containers, last started first, with what is left of the grace period.
    const sidecarNames = 'spec' in pod ? (pod.spec.initContainers ?? []).filter(isSidecar).map((c) => c.name) : [];
    const sidecars = apps.filter((c) => sidecarNames.includes(c.labels.containerName)).sort((a, b) => sidecarNames.indexOf(b.labels.containerName) - sidecarNames.indexOf(a.labels.containerName));
    const started = this.clock.now();
    // Every other container gets its grace period at the same time, as the kubelet does.
    await Promise.all(apps.filter((c) => !sidecars.includes(c)).map((c) => stopOne(c, gracePeriodSeconds)));
    for (const c of sidecars) {
      const left = Math.ceil(gracePeriodSeconds - (this.clock.now() - started) / 1000);
      await stopOne(c, Math.max(left, Math.min(gracePeriodSeconds, 2)));
    }
    // Then the sandboxes, newest first (normally there is one).
    for (const rec of this.sandboxes.records(uid).reverse()) {
      try {
        await this.sandboxes.teardown(rec);
      } catch (e) {
        errors.push(toFlotillaError(e).message);
      }
    }
    // Pause containers whose record is gone (a crash between the two).
    for (const c of all.filter((x) => x.labels.kind === 'sandbox')) {
      if (!this.containers.metadata(c.id)) continue;
      await this.containers.remove(c.id, { removeLog: true }).catch((e) => errors.push(`pause: ${toFlotillaError(e).message}`));
    }
    if (errors.length === 0) {
      try {
        await this.containerRuntime.cgroups.removePod(uid);
        if (removeAll) this.sandboxes.removePodFiles(uid);
        else this.sandboxes.releasePodFiles(uid);
      } catch (e) {
        errors.push(toFlotillaError(e).message);
      }
    }
    if (errors.length > 0) throw new ConflictError(`pod ${describe(pod)} is not fully removed (the next sync retries): ${errors.join('; ')}`);
    this.log.info({ pod: describe(pod), kept: removeAll ? undefined : 'container statuses and logs' }, removeAll ? 'pod removed from the node' : 'pod stopped');
  }

  // ------------------------------------------------------------------ logs and exec

  private instanceFor(pod: Pod, container: string, previous: boolean): FoundContainer {
    const list = this.instances(pod.metadata.uid!).get(container) ?? [];
    const inst = list[previous ? 1 : 0];
    if (!inst) {
      const what = previous ? `previous terminated container "${container}"` : `container "${container}"`;
      throw new NotFoundError(`${what} in pod "${pod.metadata.name}" not found`, { container });
    }
    return inst.value;
  }

  containerLogs(pod: Pod, container: string, opts: ContainerLogOptions): AsyncIterable<Uint8Array> {
    const inst = this.instanceFor(pod, container, opts.previous === true);
    const lines = this.containers.logs(inst.id, { tail: opts.tailLines, follow: opts.follow, signal: opts.signal });
    const since = opts.sinceSeconds !== undefined ? this.clock.now() - opts.sinceSeconds * 1000 : undefined;
    const limit = opts.limitBytes;
    return (async function* () {
      let sent = 0;
      for await (const l of lines) {
        if (since !== undefined && Date.parse(l.time) < since) continue;
        let b = Buffer.from(opts.timestamps ? `${l.time} ${l.message}\n` : `${l.message}\n`);
        if (limit !== undefined) {
          if (sent >= limit) return;
          if (sent + b.length > limit) b = b.subarray(0, limit - sent);
        }
        sent += b.length;
        yield new Uint8Array(b);
      }
    })();
  }

  async exec(pod: Pod, container: string, req: ExecRequest): Promise<number> {
    const inst = this.instanceFor(pod, container, false);
    const st = await this.containers.status(inst.id);
    if (st.state !== 'running') throw new ConflictError(`container "${container}" in pod "${pod.metadata.name}" is not running (state ${st.state})`);
    return execStreaming(this.containers.runtimeFor(inst.id), inst.id, req, { bundleConfig: join(this.containers.bundleDir(inst.id), 'config.json') });
  }
}

function describe(pod: PodLike): string {
  return pod.metadata.name ? `${pod.metadata.namespace ?? ''}/${pod.metadata.name}` : (pod.metadata.uid ?? '');
}

export type { SandboxRecord };
