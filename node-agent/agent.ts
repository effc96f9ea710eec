// The node agent's core: register the Node, heartbeat, watch the pods bound to
// this node, and keep each one converging through a serialized per-pod worker
// (decide with computePodActions, act through the PodRuntime, report status).
// Level-triggered: watch events only speed things up; a periodic relist of the
// runtime is the guarantee.
import * as fs from 'node:fs';
import os from 'node:os';
import {
  componentLogger,
  isTerminalPhase,
  realClock,
  toFlotillaError,
  type Clock,
  type Container,
  type Logger,
  type Node,
  type NodeStatus,
  type Pod,
  type PodStatus,
  type ResourceList,
} from '../api/index.js';
import { CachedConfigSource, failedMountMessage, invalidEnvNamesMessage, PodConfig, type ConfigObjectSource } from './config/index.js';
import type { ControllerClient } from './controller-client.js';
import { ContainerStartError, type ContainerConfig, type PodRuntime } from './pod-runtime.js';
import { activeDeadline, activeDeadlineExceeded, computePodActions, DEADLINE_EXCEEDED_MESSAGE, DEADLINE_EXCEEDED_REASON, initProgress, isSidecar, podContainerSpec, podIsDone } from './sync/plan.js';
import { PodWorkers } from './sync/pod-workers.js';
import { computePodStatus } from './sync/status.js';
import { stopInOrder } from './sync/termination.js';
import { LifecycleRunner, ProbeManager, type ProbeKind } from './probes/index.js';
import type { ContainerWaitReason } from './sync/types.js';
import { NodeDns, type NodeDnsOptions } from './dns/index.js';
import { MemoryServiceCatalog } from './services/catalog.js';
import { runServiceFeed } from './services/feed.js';

export interface AgentOptions {
  client: ControllerClient;
  runtime: PodRuntime;
  nodeIP: string;
  log: Logger;
  clock?: Clock;
  heartbeatMs?: number;
  relistMs?: number;
  capacity?: { cpu: string; memory: string; pods: string };
  labels?: Record<string, string>;
  podCIDR?: string;
  version?: string;
  runtimeVersion?: string;
  /** The port of the agent's logs/exec server, advertised in the Node (0 or absent: none). */
  streamPort?: number;
  /** Where pods' ConfigMaps and Secrets are read (default: the controller, behind a TTL cache). */
  configSource?: ConfigObjectSource;
  /**
   * Keep `serviceCatalog` current from the controller's WatchServices stream
   * (every Service and EndpointSlice, for the service proxy and the node DNS
   * server); default true.
   */
  watchServices?: boolean;
  /** Cluster DNS served on this node (node-agent/dns) from serviceCatalog; absent: none. */
  nodeDns?: Omit<NodeDnsOptions, 'catalog'>;
}

/** How soon a container whose ConfigMap/Secret (or key) is missing is tried again. */
export const CONFIG_RETRY_MS = 5_000;
/** How soon a pod whose configMap/secret volume cannot be made is synced again. */
export const VOLUME_RETRY_MS = 5_000;
/** How often a pod whose init containers are running is looked at again (an init container's exit starts the next). */
export const INIT_POLL_MS = 500;
/** The same FailedMount is recorded again after this long, not on every retry. */
const FAILED_MOUNT_EVENT_EVERY_MS = 30_000;

export const AGENT_VERSION = 'v0.1.0-flotilla';

export function hostCapacity(): { cpu: string; memory: string; pods: string } {
  return { cpu: String(os.cpus().length), memory: `${Math.floor(os.totalmem() / 1024)}Ki`, pods: '110' };
}

function stripVolatile(s: PodStatus | undefined): string {
  if (!s) return '';
  return JSON.stringify({ ...s, conditions: s.conditions?.map((c) => ({ ...c, lastProbeTime: undefined, lastTransitionTime: undefined })) });
}

export class Agent {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly pods = new Map<string, Pod>();
  private readonly waiting = new Map<string, Map<string, ContainerWaitReason>>();
  private readonly requeueTimers = new Map<string, { cancel(): void }>();
  /** Per pod, the FailedMount last recorded (what and when), so retries do not repeat it. */
  private readonly mountFailures = new Map<string, { key: string; at: number }>();
  private readonly podConfig: PodConfig;
  private allocatableCache: ResourceList | undefined;
  private readonly workers: PodWorkers;
  /** Probes of running containers, and the postStart/preStop hooks around starts and stops. */
  private readonly probes: ProbeManager;
  private readonly lifecycle: LifecycleRunner;
  private readonly ac = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private lastHeartbeatOk = 0;
  private synced = false;
  private nodeDns: NodeDns | undefined;
  readonly nodeName: string;
  /** Every Service and EndpointSlice of the cluster, as the controller's feed has them (the proxy and DNS read it). */
  readonly serviceCatalog = new MemoryServiceCatalog();

  constructor(private readonly opts: AgentOptions) {
    this.clock = opts.clock ?? realClock;
    this.log = opts.log;
    this.nodeName = opts.client.nodeName;
    const client = opts.client;
    this.podConfig = new PodConfig(opts.configSource ?? new CachedConfigSource((r, ns, name, pod) => client.getConfigObject(r, ns, name, pod), this.clock));
    this.workers = new PodWorkers(
      (uid) => this.syncPod(uid),
      (uid, e) => {
        const fe = toFlotillaError(e);
        this.log.warn({ pod: this.describe(uid), err: fe.message, code: fe.code }, 'pod sync failed; will retry');
        this.requeue(uid, 2_000);
      },
    );
    this.lifecycle = new LifecycleRunner({ runtime: opts.runtime, nodeIP: opts.nodeIP, clock: this.clock, log: this.log, event: (p, t, r, m) => this.event(p, t, r, m) });
    this.probes = new ProbeManager({
      clock: this.clock,
      log: this.log,
      run: (p, c, probe, host) => this.lifecycle.runProbe(p, c, probe, host),
      callbacks: {
        changed: (uid) => this.workers.enqueue(uid),
        failed: (p, c, kind, message) => this.lifecycle.unhealthy(p, c, kind, message),
        kill: (p, c, id, kind, grace) => void this.probeKill(p, c, id, kind, grace),
      },
    });
  }

  private describe(uid: string): string {
    const p = this.pods.get(uid);
    return p ? `${p.metadata.namespace}/${p.metadata.name}` : uid;
  }

  nodeObject(): Node {
    const cap = this.opts.capacity ?? hostCapacity();
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: this.nodeName,
        labels: {
          'kubernetes.io/hostname': this.nodeName,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch,
          ...this.opts.labels,
        },
      },
      spec: this.opts.podCIDR ? { podCIDR: this.opts.podCIDR, podCIDRs: [this.opts.podCIDR] } : {},
      status: {
        capacity: cap,
        allocatable: cap,
        ...this.nodeStatus(),
        ...(this.opts.streamPort ? { daemonEndpoints: { kubeletEndpoint: { Port: this.opts.streamPort } } } : {}),
        nodeInfo: this.nodeInfo(),
      },
    };
  }

  private nodeInfo(): NonNullable<NodeStatus['nodeInfo']> {
    return {
      kernelVersion: os.release(),
      osImage: 'Linux',
      operatingSystem: 'linux',
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      containerRuntimeVersion: this.opts.runtimeVersion ?? 'crun',
      kubeletVersion: this.opts.version ?? AGENT_VERSION,
      kubeProxyVersion: '',
      machineID: '',
      systemUUID: '',
      bootID: '',
    };
  }

  private nodeStatus(): NodeStatus {
    return {
      addresses: [
        { type: 'InternalIP', address: this.opts.nodeIP },
        { type: 'Hostname', address: this.nodeName },
      ],
      conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', message: 'flotilla agent is posting ready status' }],
    };
  }

  async start(): Promise<void> {
    await this.opts.client.registerNode(this.nodeObject());
    await this.opts.client.heartbeat(this.nodeStatus());
    this.lastHeartbeatOk = this.clock.now();
    this.loops.push(this.heartbeatLoop(), this.watchLoop(), this.relistLoop());
    if (this.opts.watchServices ?? true) {
      const feedLog = componentLogger('service-feed', this.log);
      this.loops.push(runServiceFeed({ source: this.opts.client, catalog: this.serviceCatalog, log: feedLog, clock: this.clock }, this.ac.signal));
    }
    await this.startNodeDns();
    this.log.info({ node: this.nodeName }, 'agent started');
  }

  // ---------------------------------------------------------------- node DNS
  // The node's name server (node-agent/dns): the kube-dns IP on this node,
  // answered from serviceCatalog. A failure to start is the agent's to
  // report: pods here would resolve nothing.
  private async startNodeDns(): Promise<void> {
    if (!this.opts.nodeDns) return;
    const dns = new NodeDns({ ...this.opts.nodeDns, catalog: this.serviceCatalog, log: componentLogger('dns', this.log) });
    await dns.start();
    this.nodeDns = dns;
  }

  private async stopNodeDns(): Promise<void> {
    await this.nodeDns?.stop();
    this.nodeDns = undefined;
  }

  get healthy(): boolean {
    return this.clock.now() - this.lastHeartbeatOk < (this.opts.heartbeatMs ?? 10_000) * 4;
  }

  /** A pod bound to this node, by namespace and name (the logs/exec server looks pods up here). */
  findPod(namespace: string, name: string): Pod | undefined {
    for (const p of this.pods.values()) if (p.metadata.namespace === namespace && p.metadata.name === name) return p;
    return undefined;
  }

  get podCount(): number {
    return this.pods.size;
  }

  private async heartbeatLoop(): Promise<void> {
    const every = this.opts.heartbeatMs ?? 10_000;
    while (!this.ac.signal.aborted) {
      try {
        await this.clock.sleep(every, this.ac.signal);
      } catch {
        return;
      }
      try {
        await this.opts.client.heartbeat(this.nodeStatus());
        this.lastHeartbeatOk = this.clock.now();
      } catch (e) {
        this.log.warn({ err: toFlotillaError(e).message }, 'heartbeat failed');
      }
    }
  }

  private async watchLoop(): Promise<void> {
    let backoff = 500;
    while (!this.ac.signal.aborted) {
      const seen = new Set<string>();
      let inSnapshot = true;
      try {
        for await (const ev of this.opts.client.watchPods(this.ac.signal)) {
          backoff = 500;
          if (ev.type === 'SYNC') {
            // Anything we hold that the snapshot did not mention is gone.
            for (const uid of [...this.pods.keys()]) if (!seen.has(uid)) this.forget(uid);
            inSnapshot = false;
            this.synced = true;
            continue;
          }
          const uid = ev.pod.metadata.uid;
          if (!uid) continue;
          if (inSnapshot) seen.add(uid);
          if (ev.type === 'DELETED') this.forget(uid);
          else {
            this.pods.set(uid, ev.pod);
            this.workers.enqueue(uid);
          }
        }
      } catch (e) {
        if (this.ac.signal.aborted) return;
        this.log.warn({ err: toFlotillaError(e).message }, 'pod watch ended; reconnecting');
      }
      try {
        await this.clock.sleep(backoff, this.ac.signal);
      } catch {
        return;
      }
      backoff = Math.min(backoff * 2, 10_000);
    }
  }

  private forget(uid: string): void {
    this.pods.delete(uid);
    this.mountFailures.delete(uid);
    this.workers.enqueue(uid); // the worker sees no desired pod and cleans up what is left
  }

  private async relistLoop(): Promise<void> {
    const every = this.opts.relistMs ?? 10_000;
    while (!this.ac.signal.aborted) {
      try {
        await this.clock.sleep(every, this.ac.signal);
      } catch {
        return;
      }
      await this.relist().catch((e) => this.log.warn({ err: toFlotillaError(e).message }, 'relist failed'));
    }
  }

  /** Enqueues every pod we want and every pod the runtime has (orphans get cleaned up). */
  async relist(): Promise<void> {
    for (const uid of this.pods.keys()) this.workers.enqueue(uid);
    if (!this.synced) return; // never clean up before knowing what the controller wants
    for (const st of await this.opts.runtime.listPods()) if (!this.pods.has(st.uid)) this.workers.enqueue(st.uid);
  }

  private requeue(uid: string, ms: number): void {
    this.requeueTimers.get(uid)?.cancel();
    const t = this.clock.setTimeout(() => {
      this.requeueTimers.delete(uid);
      if (!this.ac.signal.aborted) this.workers.enqueue(uid);
    }, ms);
    this.requeueTimers.set(uid, t);
  }

  private async event(pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    await this.opts.client
      .recordEvent({
        involvedObject: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid, apiVersion: 'v1' },
        reason,
        message,
        type,
      })
      .catch((e) => this.log.debug({ err: toFlotillaError(e).message }, 'event not recorded'));
  }

  /** Records an Event about this Node (the service proxy's drift and failures). */
  async nodeEvent(type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    await this.opts.client
      .recordEvent({ involvedObject: { kind: 'Node', name: this.nodeName, uid: this.nodeName, apiVersion: 'v1' }, reason, message, type })
      .catch((e) => this.log.debug({ err: toFlotillaError(e).message }, 'event not recorded'));
  }

  /** One pass of the level-triggered loop for one pod. */
  async syncPod(uid: string): Promise<void> {
    const pod = this.pods.get(uid);
    const rt = this.opts.runtime;
    if (!pod) {
      this.probes.removePod(uid);
      if (!this.synced) return;
      const st = await rt.podStatus({ metadata: { uid } } as Pod);
      if (st.sandbox || st.containers.length > 0) {
        this.log.info({ uid }, 'removing a pod the controller no longer has');
        await rt.killPod({ metadata: { uid } }, 0);
      }
      this.waiting.delete(uid);
      return;
    }
    const now = this.clock.now();
    const status = this.probes.markKilled(await rt.podStatus(pod));
    const plan = computePodActions(pod, status, now);
    const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;

    if (pod.metadata.deletionTimestamp) {
      this.probes.removePod(uid);
      // App containers first, then the sidecars in reverse order (sync/termination.ts); the pod goes once all exited.
      await stopInOrder(pod, plan.containersToKill, grace, {
        clock: this.clock,
        killing: (c) => this.event(pod, 'Normal', 'Killing', `Stopping container ${c.name}`),
        preStop: (cs, g) => this.lifecycle.preStop(pod, cs, status.sandbox?.ip, g),
        stop: (c, g) => rt.stopContainer(pod, c.id, g),
        failed: (c, e) => this.log.warn({ pod: this.describe(uid), container: c.name, err: toFlotillaError(e).message }, 'stopping a container failed; it is killed with the pod'),
      });
      await rt.killPod(pod, 0);
      this.waiting.delete(uid);
      await this.opts.client.confirmPodDeleted(pod);
      this.log.info({ pod: this.describe(uid) }, 'pod stopped and removed');
      return;
    }

    const waiting = this.waiting.get(uid) ?? new Map<string, ContainerWaitReason>();
    this.waiting.set(uid, waiting);
    if (activeDeadlineExceeded(pod, now) && !isTerminalPhase(pod.status?.phase)) {
      this.log.info({ pod: this.describe(uid), activeDeadlineSeconds: pod.spec.activeDeadlineSeconds }, 'pod is past its activeDeadlineSeconds; stopping it');
      await this.event(pod, 'Warning', DEADLINE_EXCEEDED_REASON, DEADLINE_EXCEEDED_MESSAGE);
    }
    if (plan.killPod && !plan.createSandbox && plan.containersToKill.some((c) => c.reason === 'PodTerminal')) {
      // Past activeDeadlineSeconds (or Failed/Succeeded with something still
      // running): stopped as the kubelet stops a pod, preStop hooks and order
      // included, inside the grace period; then the sandbox goes.
      await stopInOrder(pod, plan.containersToKill, grace, {
        clock: this.clock,
        killing: (c) => this.event(pod, 'Normal', 'Killing', `Stopping container ${c.name}`),
        preStop: (cs, g) => this.lifecycle.preStop(pod, cs, status.sandbox?.ip, g),
        stop: (c, g) => rt.stopContainer(pod, c.id, g),
        failed: (c, e) => this.log.warn({ pod: this.describe(uid), container: c.name, err: toFlotillaError(e).message }, 'stopping a container failed; it is killed with the pod'),
      });
      await rt.killPod(pod, 0);
    } else if (plan.killPod) await rt.killPod(pod, plan.createSandbox ? 0 : grace);
    else for (const c of plan.containersToKill) {
      await this.event(pod, 'Normal', 'Killing', `Stopping container ${c.name}`);
      await rt.stopContainer(pod, c.id, await this.lifecycle.preStop(pod, [c], status.sandbox?.ip, grace));
    }

    // Volumes first, as the kubelet mounts them before it makes the sandbox. A configMap or
    // secret volume whose object (or key) is missing keeps the pod from starting anything
    // (FailedMount, containers ContainerCreating) until it appears; on every later sync the
    // same step writes what changed, which is how running containers see updates.
    if (PodConfig.hasConfigVolumes(pod) && !podIsDone(pod, status)) {
      const vols = await this.podConfig.volumes(pod);
      await rt.setUpVolumes(pod, vols.contents);
      if (vols.problems.length > 0) {
        await this.failedMount(pod, vols.problems, now);
        const message = vols.problems.map((p) => failedMountMessage(p.volume, p.message)).join('; ');
        for (const s of plan.containersToStart) waiting.set(s.name, { reason: 'ContainerCreating', message });
        await this.report(pod, now);
        this.requeue(uid, VOLUME_RETRY_MS);
        return;
      }
      if (this.mountFailures.delete(uid)) {
        for (const [name, w] of waiting) if (w.reason === 'ContainerCreating') waiting.delete(name);
      }
    }

    let sandbox = status.sandbox;
    if (plan.createSandbox) {
      try {
        sandbox = await rt.createSandbox(pod);
      } catch (e) {
        const msg = toFlotillaError(e).message;
        await this.event(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${msg}`);
        for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) waiting.set(c.name, { reason: 'ContainerCreating', message: `sandbox: ${msg}` });
        await this.report(pod, now);
        this.requeue(uid, 5_000);
        return;
      }
    }

    let nextWake: number | undefined;
    const wake = (at: number) => (nextWake = nextWake === undefined ? at : Math.min(nextWake, at));
    for (const s of plan.containersToStart) {
      const spec = podContainerSpec(pod, s.name)!;
      const w = waiting.get(s.name);
      if (w?.retryAfter && w.retryAfter > now) {
        wake(w.retryAfter);
        continue;
      }
      try {
        const config = await this.containerConfig(pod, sandbox!, spec);
        await rt.startContainer(pod, sandbox!, spec, s.restartCount, config);
        waiting.delete(s.name);
        await this.event(pod, 'Normal', 'Started', `Started container ${s.name}`);
        if (!(await this.lifecycle.postStart(pod, spec, sandbox?.ip, grace))) wake(this.clock.now() + 1_000);
      } catch (e) {
        const err = e instanceof ContainerStartError ? e : new ContainerStartError('CreateContainerError', toFlotillaError(e).message);
        // The first image pull failure shows ErrImagePull, later ones ImagePullBackOff, as in Kubernetes.
        const reason = err.reason === 'ErrImagePull' && (w?.reason === 'ErrImagePull' || w?.reason === 'ImagePullBackOff') ? 'ImagePullBackOff' : err.reason;
        waiting.set(s.name, { reason, message: err.message, retryAfter: now + err.retryAfterMs });
        // A missing ConfigMap/Secret is worded as the kubelet does: `Error: configmap "x" not found`.
        const text = err.reason === 'CreateContainerConfigError' ? `Error: ${err.message}` : `Error: ${err.reason}: ${err.message}`;
        await this.event(pod, 'Warning', 'Failed', text);
        wake(now + err.retryAfterMs);
      }
    }
    for (const b of plan.backingOff) {
      wake(b.until);
    }
    // Init containers run one after another: look again soon while the pod initializes.
    const inits = pod.spec.initContainers ?? [];
    if (inits.length > 0 && !isTerminalPhase(pod.status?.phase)) {
      const fresh = await rt.podStatus(pod);
      const regular = new Set(inits.filter((c) => !isSidecar(c)).map((c) => c.name));
      const initRunning = fresh.containers.some((c) => regular.has(c.name) && (c.state === 'running' || c.state === 'created'));
      if (!initProgress(pod, fresh).initialized && (initRunning || plan.containersToStart.length > 0)) wake(this.clock.now() + INIT_POLL_MS);
    }
    const deadline = activeDeadline(pod);
    if (deadline !== undefined && !isTerminalPhase(pod.status?.phase)) wake(deadline);
    if (plan.backingOff.length > 0) {
      await this.event(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${plan.backingOff.map((b) => b.name).join(', ')}`);
    }
    await this.report(pod, this.clock.now());
    if (nextWake !== undefined) this.requeue(uid, Math.max(50, nextWake - this.clock.now()));
  }

  /**
   * What a container start needs from ConfigMaps, Secrets and the downward API
   * (its env); a missing object or key is a CreateContainerConfigError naming it.
   */
  private async containerConfig(pod: Pod, sandbox: { ip?: string }, c: Container): Promise<ContainerConfig> {
    const r = await this.podConfig.env(pod, c, {
      podIP: pod.spec.hostNetwork ? this.opts.nodeIP : sandbox.ip,
      hostIP: this.opts.nodeIP,
      allocatable: this.allocatable(),
    });
    if (!r.ok) throw new ContainerStartError('CreateContainerConfigError', r.message, CONFIG_RETRY_MS);
    for (const i of r.invalid) await this.event(pod, 'Warning', 'InvalidEnvironmentVariableNames', invalidEnvNamesMessage(i));
    const pull = await this.podConfig.pullCredentials(pod);
    for (const p of pull?.problems ?? []) {
      this.log.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, secret: p.secret, err: p.message }, 'image pull secret not usable');
      await this.event(pod, 'Warning', 'FailedToRetrieveImagePullSecret', `Unable to retrieve some image pull secrets (${p.secret}); attempting to pull the image may not succeed.`);
    }
    return { env: r.env, ...(pull ? { pullCredentials: pull.lookup } : {}) };
  }

  /**
   * A liveness or startup probe reached its failureThreshold: kill the container
   * (preStop inside the probe's grace period), as the kubelet words it; the next
   * sync restarts it per the restart policy and back-off.
   */
  private async probeKill(pod: Pod, name: string, id: string, kind: ProbeKind, grace: number): Promise<void> {
    const uid = pod.metadata.uid!;
    try {
      await this.event(pod, 'Normal', 'Killing', `Container ${name} failed ${kind} probe, will be restarted`);
      const ip = (await this.opts.runtime.podStatus(pod)).sandbox?.ip;
      await this.opts.runtime.stopContainer(pod, id, await this.lifecycle.preStop(pod, [{ name, id }], ip, grace));
    } catch (e) {
      this.log.warn({ pod: this.describe(uid), container: name, err: toFlotillaError(e).message }, 'killing a container that failed its probe failed');
    }
    if (this.pods.has(uid)) this.workers.enqueue(uid);
  }

  /** The node's allocatable, for resourceFieldRef of a limit not set (ephemeral-storage: the root filesystem's size). */
  private allocatable(): ResourceList {
    if (!this.allocatableCache) {
      let storage: string | undefined;
      try {
        const st = fs.statfsSync('/');
        storage = String(st.blocks * st.bsize);
      } catch {
        storage = undefined;
      }
      const cap = this.opts.capacity ?? hostCapacity();
      this.allocatableCache = { ...(storage ? { 'ephemeral-storage': storage } : {}), ...cap };
    }
    return this.allocatableCache;
  }

  /** Records FailedMount for each problem, unless the same was recorded for the pod a moment ago. */
  private async failedMount(pod: Pod, problems: { volume: string; message: string }[], now: number): Promise<void> {
    const uid = pod.metadata.uid!;
    const key = problems.map((p) => `${p.volume}\0${p.message}`).join('\n');
    const last = this.mountFailures.get(uid);
    if (last && last.key === key && now - last.at < FAILED_MOUNT_EVENT_EVERY_MS) return;
    this.mountFailures.set(uid, { key, at: now });
    for (const p of problems) {
      this.log.info({ pod: this.describe(uid), volume: p.volume, err: p.message }, 'volume cannot be set up; the pod waits');
      await this.event(pod, 'Warning', 'FailedMount', failedMountMessage(p.volume, p.message));
    }
  }

  private async report(pod: Pod, now: number): Promise<void> {
    // A terminal phase is final: what the runtime says later (a pod the controller
    // marked lost, containers removed) must not rewrite it.
    if (isTerminalPhase(pod.status?.phase)) return;
    const uid = pod.metadata.uid!;
    const runtime = this.probes.markKilled(await this.opts.runtime.podStatus(pod));
    this.probes.update(pod, runtime, this.lifecycle.host(pod, runtime.sandbox?.ip));
    const status = computePodStatus({ pod, runtime, waiting: this.waiting.get(uid) ?? new Map(), hostIP: this.opts.nodeIP, now, probes: this.probes.lookup(uid) });
    if (stripVolatile(status) === stripVolatile(pod.status)) return;
    const updated = await this.opts.client.updatePodStatus(pod, status);
    // Keep our copy current so the next comparison is against what the controller has.
    const cur = this.pods.get(uid);
    if (cur && cur.metadata.uid === updated.metadata.uid) this.pods.set(uid, updated);
  }

  async stop(): Promise<void> {
    this.ac.abort();
    this.probes.stop();
    for (const t of this.requeueTimers.values()) t.cancel();
    await Promise.allSettled(this.loops);
    await this.workers.idle();
    await this.stopNodeDns();
    this.opts.client.close();
  }
}
