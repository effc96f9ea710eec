// Pod sandboxes: what a pod's containers share. Building one acquires, in
// order, a sandbox record, the pod cgroup, the pod's /etc files and emptyDir
// volumes, a pinned network namespace with loopback up, the pod network
// (PodNetwork.add: eth0 and an IP), the pod's host ports (HostPortMapper: DNAT
// on the node), and the pause container (PID 1 holding IPC and UTS, and PID
// when the pod shares it). Each step registers its undo at
// once; a failure rolls back newest first. The record is written before
// anything else, so a crash mid-way leaves a trace that teardown can follow.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { componentLogger, InternalError, realClock, type Clock, type Logger, type Pod } from '../../api/index.js';
import * as native from '../../native/index.js';
import { podHostPortMappings, type HostPortMapper, type HostPortMapping, type PodNetwork, type PodNetworkAttachment, type SandboxHostPorts } from '../../netplugin/index.js';
import { cgroupResources, podCgroupLimits, type CgroupManager, type ContainerManager } from '../runtime/index.js';
import type { RuntimeSandbox } from '../sync/types.js';
import { pauseSpec, podHostname, podHostsExtras, podKernelHostname, podHostsFile, withHostAliases, PAUSE_IN_ROOTFS, type EtcFiles, type SandboxPlacement } from './container-spec.js';
import { formatLabels, LABELS, SANDBOX_CONTAINER_NAME, type PodRef } from './labels.js';
import type { NodeLayout } from './layout.js';
import { createPodNetns, deletePodNetns, podNetnsAlive } from './pod-netns.js';
import { UndoStack } from './undo.js';
import { podResolvConfText } from './resolv-conf.js';
import { applyFsGroup, podVolumes, type PodVolume } from './volumes.js';

/** What a sandbox is, on disk under the pod's run dir. */
export interface SandboxRecord {
  id: string;
  pod: PodRef;
  createdAt: number;
  hostNetwork: boolean;
  shareProcessNamespace: boolean;
  /** The pinned network namespace (absent for hostNetwork pods). */
  netnsPath?: string;
  /** Set once PodNetwork.add succeeded: del must be called at teardown. */
  networkAttached?: boolean;
  ip?: string;
  hostname: string;
  /** The pod's host ports, set before they are programmed: teardown and an agent restart read them. */
  hostPorts?: HostPortMapping[];
  /** Host side of the pod's veth (PodNetwork.add's hostIfName), kept for the host ports' hairpin mode. */
  hostIfName?: string;
}

export interface SandboxManagerOptions {
  layout: NodeLayout;
  containers: ContainerManager;
  cgroups: CgroupManager;
  /** Absent: pods get loopback only. */
  podNetwork?: PodNetwork;
  /** Forwards pods' host ports (nftables DNAT); absent: a pod asking for one fails to start. */
  hostPorts?: HostPortMapper;
  pauseBinary: string;
  /** The host's resolv.conf (default /etc/resolv.conf): what pods with dnsPolicy Default get, and the search domains ClusterFirst adds. */
  resolvConf?: string;
  /** The kubelet's --cluster-dns and --cluster-domain; no clusterDNS: ClusterFirst pods get the node's resolv.conf, as the kubelet does. */
  dns?: { clusterDNS: string[]; clusterDomain: string };
  clock?: Clock;
  log?: Logger;
}

const POD_IFNAME = 'eth0';
/** Size of a pod's /dev/shm tmpfs (the runtimes' default). */
const SHM_SIZE = '64m';

export class SandboxManager {
  private readonly layout: NodeLayout;
  private readonly containers: ContainerManager;
  private readonly cgroups: CgroupManager;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(private readonly opts: SandboxManagerOptions) {
    this.layout = opts.layout;
    this.containers = opts.containers;
    this.cgroups = opts.cgroups;
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? componentLogger('sandbox');
  }

  // ------------------------------------------------------------------ reading

  /** Every sandbox record of the pod, oldest first. */
  records(uid: string): SandboxRecord[] {
    const dir = this.layout.sandboxRecordDir(uid);
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
    } catch {
      return [];
    }
    const out: SandboxRecord[] = [];
    for (const n of names) {
      try {
        out.push(JSON.parse(fs.readFileSync(join(dir, n), 'utf8')) as SandboxRecord);
      } catch {
        // A record cut short by a crash: teardown by uid still removes the pod's dirs.
      }
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Where the sandbox's containers join it, or undefined when pause does not run. */
  async placement(rec: SandboxRecord): Promise<SandboxPlacement | undefined> {
    if (!this.containers.metadata(rec.id)) return undefined;
    const st = await this.containers.status(rec.id);
    if (st.state !== 'running' || !st.pid) return undefined;
    if (rec.netnsPath && !podNetnsAlive(rec.netnsPath)) return undefined;
    return { netnsPath: rec.netnsPath, pausePid: st.pid, hostNetwork: rec.hostNetwork, shareProcessNamespace: rec.shareProcessNamespace };
  }

  /** The record as the sync loop sees it: ready while pause runs and the namespace is pinned. */
  async runtimeSandbox(rec: SandboxRecord): Promise<RuntimeSandbox> {
    const ready = (await this.placement(rec).catch(() => undefined)) !== undefined;
    return { id: rec.id, state: ready ? 'ready' : 'notready', ...(rec.ip ? { ip: rec.ip } : {}), createdAt: rec.createdAt };
  }

  etcFiles(uid: string): EtcFiles {
    const d = this.layout.etcDir(uid);
    const shm = this.layout.shmDir(uid);
    return { hostname: join(d, 'hostname'), hosts: join(d, 'hosts'), resolvConf: join(d, 'resolv.conf'), ...(fs.existsSync(shm) ? { shm } : {}) };
  }

  attachment(rec: SandboxRecord): PodNetworkAttachment {
    return {
      containerId: rec.id,
      netnsPath: rec.netnsPath!,
      ifName: POD_IFNAME,
      podName: rec.pod.name,
      podNamespace: rec.pod.namespace,
      podUid: rec.pod.uid,
    };
  }

  // ------------------------------------------------------------------ building

  async create(pod: Pod): Promise<SandboxRecord> {
    const uid = pod.metadata.uid!;
    const hostNetwork = pod.spec.hostNetwork === true;
    const id = randomBytes(32).toString('hex');
    const rec: SandboxRecord = {
      id,
      pod: { uid, name: pod.metadata.name ?? '', namespace: pod.metadata.namespace ?? '' },
      createdAt: this.clock.now(),
      hostNetwork,
      shareProcessNamespace: pod.spec.shareProcessNamespace === true,
      ...(hostNetwork ? {} : { netnsPath: this.layout.netnsPin(id) }),
      // The kernel hostname (the FQDN with setHostnameAsFQDN): checked here, before anything is acquired.
      hostname: podKernelHostname(pod),
    };
    // /etc/hosts names the pod by its short hostname (and FQDN), whatever the kernel holds.
    const shortName = podHostname(pod);
    const undo = new UndoStack();
    try {
      // 1. The record first: from here on, teardown knows what may exist.
      this.writeRecord(rec);
      undo.push('sandbox record', () => {
        fs.rmSync(this.layout.sandboxRecord(uid, id), { force: true });
        // A pod that has nothing else on the node (no other sandbox, no container) leaves no dirs either.
        if (this.records(uid).length === 0 && !this.podHasContainers(uid)) this.removePodFiles(uid);
      });

      // 2. The pod cgroup with the sum of its containers' limits.
      const podCgroupExisted = this.cgroups.existing(this.cgroups.podPath(uid)).length > 0;
      const limits = podCgroupLimits(
        pod.spec.containers.map((c) => {
          const r = cgroupResources(c.resources);
          return { cpuQuotaUs: r.cpu?.quota, memoryBytes: r.memory?.limit, cpuShares: r.cpu?.shares };
        }),
      );
      this.cgroups.ensurePod(uid, limits);
      if (!podCgroupExisted) undo.push('pod cgroup', () => this.cgroups.removePod(uid));

      // 3. /etc files and emptyDir volumes, shared by every container of the pod.
      const etc = this.etcFiles(uid);
      fs.mkdirSync(this.layout.etcDir(uid), { recursive: true });
      undo.push('pod /etc files', () => fs.rmSync(this.layout.etcDir(uid), { recursive: true, force: true }));
      fs.writeFileSync(etc.hostname, `${hostNetwork ? osHostname() : rec.hostname}\n`);
      const hostsExtras = podHostsExtras(pod);
      fs.writeFileSync(etc.hosts, hostNetwork ? withHostAliases(readOr('/etc/hosts', podHostsFile(shortName)), hostsExtras) : podHostsFile(shortName, undefined, hostsExtras));
      fs.writeFileSync(etc.resolvConf, podResolvConfText(pod, { clusterDNS: [], clusterDomain: 'cluster.local', ...this.opts.dns, hostResolvConf: readOr(this.opts.resolvConf ?? '/etc/resolv.conf', '') }));
      // One /dev/shm for the pod: its containers share an IPC namespace, so POSIX shared memory must be shared too.
      const shm = this.layout.shmDir(uid);
      fs.mkdirSync(shm, { recursive: true, mode: 0o1777 });
      native.mount('shm', shm, 'tmpfs', native.MS_NOSUID | native.MS_NODEV | native.MS_NOEXEC, `mode=1777,size=${SHM_SIZE}`);
      undo.push('pod /dev/shm', () => {
        native.umount(shm, native.MNT_DETACH);
        fs.rmSync(shm, { recursive: true, force: true });
      });
      for (const v of podVolumes(pod, this.layout)) {
        if (v.kind !== 'emptyDir') continue;
        this.makeEmptyDir(v);
        applyFsGroup(v);
        undo.push(`emptyDir ${v.name}`, () => this.removeEmptyDir(v));
      }

      // 4. The network namespace, loopback, the pod network.
      if (rec.netnsPath) {
        await createPodNetns(rec.netnsPath);
        undo.push('network namespace', () => deletePodNetns(rec.netnsPath!));
        if (this.opts.podNetwork) {
          const att = this.attachment(rec);
          // Undo registered before the call: a half-done add (veth made, IP taken) is released by del, which is idempotent.
          undo.push('pod network', () => this.opts.podNetwork!.del(att));
          const res = await this.opts.podNetwork.add(att);
          rec.ip = res.ip;
          rec.hostIfName = res.hostIfName;
          rec.networkAttached = true;
          this.writeRecord(rec);
          fs.writeFileSync(etc.hosts, podHostsFile(shortName, rec.ip, hostsExtras));
        }
      }
      const hostPorts = podHostPortMappings(pod, rec.ip ?? '');
      if (hostPorts.length > 0) {
        const mapper = this.opts.hostPorts;
        if (!mapper || !rec.ip) throw new InternalError('the pod asks for host ports, but this node has no pod network forwarding them');
        await this.seedHostPorts();
        rec.hostPorts = hostPorts;
        this.writeRecord(rec);
        undo.push('host ports', () => mapper.remove(id));
        await mapper.set(this.sandboxHostPorts(rec));
      }

      // 5. pause.
      this.ensurePauseRootfs();
      const spec = pauseSpec({
        pod,
        rootfs: this.layout.pauseRootfs(),
        pauseBinary: this.opts.pauseBinary,
        netnsPath: rec.netnsPath,
        hostname: rec.hostname,
        cgroupsPath: this.cgroups.containerPath(uid, id),
      });
      undo.push('pause container', () => this.containers.remove(id, { removeLog: true }));
      await this.containers.run({
        id,
        spec,
        logPath: join(this.layout.podRunDir(uid), `pause-${id.slice(0, 12)}.log`),
        labels: formatLabels({ pod: rec.pod, kind: 'sandbox', containerName: SANDBOX_CONTAINER_NAME, sandboxId: id, restartCount: 0, specHash: '', image: '' }),
      });
    } catch (e) {
      const failed = await undo.rollback();
      for (const f of failed) this.log.warn({ pod: `${rec.pod.namespace}/${rec.pod.name}`, sandbox: id, what: f.what, err: String(f.error) }, 'undo failed; the next sync removes it');
      if (failed.length > 0) this.writeRecord(rec); // keep a trace for teardown
      throw e;
    }
    undo.commit();
    this.log.info({ pod: `${rec.pod.namespace}/${rec.pod.name}`, sandbox: id.slice(0, 12), ip: rec.ip ?? null, hostNetwork }, 'sandbox ready');
    return rec;
  }

  // ------------------------------------------------------------------ tearing down

  /** Stops pause, detaches the pod network and unpins the namespace: the reverse of create. Idempotent. */
  async teardown(rec: SandboxRecord, graceSeconds = 2): Promise<void> {
    const errors: string[] = [];
    const step = async (what: string, fn: () => Promise<void> | void) => {
      try {
        await fn();
      } catch (e) {
        errors.push(`${what}: ${(e as Error).message}`);
      }
    };
    if (this.containers.metadata(rec.id)) {
      await step('stop pause', async () => void (await this.containers.stop(rec.id, graceSeconds)));
      await step('remove pause', () => this.containers.remove(rec.id, { removeLog: true }));
    }
    if (rec.hostPorts?.length) {
      const mapper = this.opts.hostPorts;
      if (mapper) await step('host ports', async () => {
        await this.seedHostPorts();
        await mapper.remove(rec.id);
      });
      else this.log.warn({ sandbox: rec.id }, 'sandbox has host ports but this agent was given no host port mapper; skipping their removal');
    }
    if (rec.netnsPath) {
      if (this.opts.podNetwork) await step('pod network del', () => this.opts.podNetwork!.del(this.attachment(rec)));
      else if (rec.networkAttached) this.log.warn({ sandbox: rec.id }, 'sandbox was attached to a pod network this agent was not given; skipping its del');
      await step('unpin network namespace', () => deletePodNetns(rec.netnsPath!));
    }
    if (errors.length > 0) throw new InternalError(`tearing down sandbox ${rec.id.slice(0, 12)}: ${errors.join('; ')}`);
    fs.rmSync(this.layout.sandboxRecord(rec.pod.uid, rec.id), { force: true });
  }

  /** Unmounts and removes the pod's volumes and /etc files (after every container is gone). */
  removePodFiles(uid: string): void {
    const volRoot = join(this.layout.podStateDir(uid), 'volumes');
    // Unmount whatever is mounted under the pod's dirs (memory emptyDirs), whatever the spec says now.
    for (const m of mountsUnder([volRoot, this.layout.podRunDir(uid)])) {
      try {
        native.umount(m, native.MNT_DETACH);
      } catch (e) {
        this.log.warn({ mount: m, err: (e as Error).message }, 'unmount failed');
      }
    }
    fs.rmSync(this.layout.podStateDir(uid), { recursive: true, force: true });
    fs.rmSync(this.layout.podRunDir(uid), { recursive: true, force: true });
  }

  /**
   * For a pod that is stopped but not deleted: unmounts what is mounted for it
   * (its /dev/shm, memory emptyDirs) and drops its run dir, but keeps its
   * state dir (container logs, emptyDir data) until the pod is removed.
   */
  releasePodFiles(uid: string): void {
    for (const m of mountsUnder([join(this.layout.podStateDir(uid), 'volumes'), this.layout.podRunDir(uid)])) {
      try {
        native.umount(m, native.MNT_DETACH);
      } catch (e) {
        this.log.warn({ mount: m, err: (e as Error).message }, 'unmount failed');
      }
    }
    fs.rmSync(this.layout.podRunDir(uid), { recursive: true, force: true });
  }

  // ------------------------------------------------------------------ host ports

  private hostPortsSeeded: Promise<void> | undefined;

  /**
   * Makes the host port table forward exactly the host ports of the sandboxes
   * recorded on this node (at start-up: what a previous agent left is kept,
   * what belongs to sandboxes now gone is dropped).
   */
  async reconcileHostPorts(): Promise<void> {
    const mapper = this.opts.hostPorts;
    if (!mapper) return;
    const all: SandboxHostPorts[] = [];
    let uids: string[] = [];
    try {
      uids = fs.readdirSync(this.layout.podRunDirs());
    } catch {
      /* no pod yet */
    }
    for (const uid of uids) for (const rec of this.records(uid)) if (rec.hostPorts?.length) all.push(this.sandboxHostPorts(rec));
    await mapper.reconcile(all);
  }

  /** Once per agent, before the first change: the mapper starts empty and must learn the recorded sandboxes first. */
  private seedHostPorts(): Promise<void> {
    this.hostPortsSeeded ??= this.reconcileHostPorts().catch((e: unknown) => {
      this.hostPortsSeeded = undefined;
      throw e;
    });
    return this.hostPortsSeeded;
  }

  private sandboxHostPorts(rec: SandboxRecord): SandboxHostPorts {
    return { sandboxId: rec.id, pod: `${rec.pod.namespace}/${rec.pod.name}`, mappings: rec.hostPorts ?? [], ...(rec.hostIfName ? { hostIfName: rec.hostIfName } : {}) };
  }

  // ------------------------------------------------------------------ helpers

  private podHasContainers(uid: string): boolean {
    return this.containers.ids().some((id) => this.containers.metadata(id)?.labels[LABELS.podUid] === uid);
  }

  private writeRecord(rec: SandboxRecord): void {
    const p = this.layout.sandboxRecord(rec.pod.uid, rec.id);
    fs.mkdirSync(dirname(p), { recursive: true });
    fs.writeFileSync(`${p}.tmp`, JSON.stringify(rec));
    fs.renameSync(`${p}.tmp`, p);
  }

  private makeEmptyDir(v: PodVolume): void {
    fs.mkdirSync(v.path, { recursive: true, mode: 0o777 });
    // Any user of any container may write to it, as with Kubernetes' emptyDir.
    fs.chmodSync(v.path, 0o777);
    if (v.memory) native.mount('tmpfs', v.path, 'tmpfs', native.MS_NOSUID | native.MS_NODEV, 'mode=1777');
  }

  private removeEmptyDir(v: PodVolume): void {
    if (v.memory) {
      try {
        native.umount(v.path, native.MNT_DETACH);
      } catch {
        /* not mounted */
      }
    }
    fs.rmSync(v.path, { recursive: true, force: true });
  }

  /** The shared rootfs of every pause container: mount points and an empty file to bind the binary onto. */
  private ensurePauseRootfs(): void {
    const root = this.layout.pauseRootfs();
    const target = join(root, PAUSE_IN_ROOTFS);
    if (fs.existsSync(target)) return;
    for (const d of ['proc', 'dev', 'sys', 'etc']) fs.mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
    fs.writeFileSync(target, '', { mode: 0o755 });
  }
}

function readOr(path: string, fallback: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

function osHostname(): string {
  return readOr('/proc/sys/kernel/hostname', 'localhost').trim();
}

/** Mount points at or below any of DIRS, deepest first. */
export function mountsUnder(dirs: string[]): string[] {
  let text = '';
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = mp.replace(/\\040/g, ' ');
    if (dirs.some((d) => p === d || p.startsWith(`${d}/`))) out.push(p);
  }
  return out.sort((a, b) => b.length - a.length);
}
