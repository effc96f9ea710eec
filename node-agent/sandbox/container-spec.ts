// From a pod's spec to the input of buildOciSpec, for the pod's pause
// container and for each of its containers. Pure: which namespaces are joined
// and how, the hostname, the image config, the /etc files — all data, checked
// by table tests; the runtime only writes what comes out.
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Container, Pod } from '../../api/index.js';
import { effectiveSecurity, isNamespacedSysctl } from '../../api/kinds/pod-security.js';
import type { ImageRuntimeConfig } from '../images/index.js';
import { buildOciSpec, capabilitiesFromStatus, InvalidContainerConfigError, readRootfsAccounts, type NamespaceSource, type OciDevice, type OciSpec, type OciSpecInput, type ResolvedEnvVar, type ResolvedVolume } from '../runtime/index.js';
import { LABELS } from './labels.js';

/** Where a pod's sandbox is, as containers joining it need to know. */
export interface SandboxPlacement {
  /** The pinned network namespace (absent for hostNetwork pods: the host's). */
  netnsPath?: string;
  /** PID of pause, whose IPC/UTS (and PID, when shared) namespaces containers join. */
  pausePid: number;
  hostNetwork: boolean;
  shareProcessNamespace: boolean;
}

/** The pod's files bind-mounted over /etc/{hostname,hosts,resolv.conf}, and its /dev/shm (one per pod, as its IPC namespace). */
export interface EtcFiles {
  hostname: string;
  hosts: string;
  resolvConf: string;
  shm?: string;
}

/** The pod's hostname as its containers see it (Kubernetes: spec.hostname, else the pod name, at most 63 characters). */
export function podHostname(pod: Pod): string {
  return (pod.spec.hostname || pod.metadata.name || 'pod').slice(0, 63).replace(/[-.]+$/, '');
}

/** The cluster's DNS domain, as the kubelet's default --cluster-domain. */
export const CLUSTER_DOMAIN = 'cluster.local';

/** The kernel's nodename holds 64 characters (65 bytes with the NUL): a longer FQDN cannot be the hostname. */
export const MAX_FQDN_HOSTNAME = 64;

/**
 * The hostname the pod's UTS namespace holds (and /etc/hostname and HOSTNAME
 * say): the short hostname, or with setHostnameAsFQDN and a subdomain the
 * pod's FQDN `hostname.subdomain.NS.svc.<domain>`, as the kubelet gives the
 * runtime. An FQDN over 64 characters fails the sandbox, in the kubelet's words.
 */
export function podKernelHostname(pod: Pod, clusterDomain = CLUSTER_DOMAIN): string {
  const short = podHostname(pod);
  if (pod.spec.setHostnameAsFQDN !== true || !pod.spec.subdomain) return short;
  const fqdn = `${short}.${pod.spec.subdomain}.${pod.metadata.namespace ?? 'default'}.svc.${clusterDomain}`;
  if (fqdn.length > MAX_FQDN_HOSTNAME) {
    throw new InvalidContainerConfigError(
      `failed to construct FQDN from pod hostname and cluster domain, FQDN ${fqdn} is too long (${MAX_FQDN_HOSTNAME} characters is the max, ${fqdn.length} characters requested)`,
    );
  }
  return fqdn;
}

/** What of a pod goes into its /etc/hosts besides its IP. */
export interface HostsFileExtras {
  /** spec.subdomain with the pod's namespace: the pod's FQDN is `hostname.subdomain.NS.svc.<domain>`. */
  subdomain?: string;
  namespace?: string;
  hostAliases?: { ip: string; hostnames?: string[] }[];
}

/** The extras of a pod's /etc/hosts from its spec. */
export function podHostsExtras(pod: Pod): HostsFileExtras {
  return {
    ...(pod.spec.subdomain ? { subdomain: pod.spec.subdomain, namespace: pod.metadata.namespace ?? 'default' } : {}),
    ...(pod.spec.hostAliases?.length ? { hostAliases: pod.spec.hostAliases } : {}),
  };
}

/**
 * /etc/hosts of a pod: loopback, the pod's own name on its IP (its FQDN first
 * when it has a subdomain), then the hostAliases block, as the kubelet writes it.
 */
export function podHostsFile(hostname: string, podIP?: string, extras: HostsFileExtras = {}): string {
  const lines = ['# Kubernetes-managed hosts file (flotilla).', '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  if (podIP) {
    lines.push(extras.subdomain ? `${podIP}\t${hostname}.${extras.subdomain}.${extras.namespace ?? 'default'}.svc.${CLUSTER_DOMAIN}\t${hostname}` : `${podIP}\t${hostname}`);
  }
  if (extras.hostAliases?.length) {
    lines.push('', '# Entries added by HostAliases.');
    for (const a of extras.hostAliases) lines.push(`${a.ip}\t${(a.hostnames ?? []).join('\t')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Host aliases appended to a copy of the node's /etc/hosts (hostNetwork pods). */
export function withHostAliases(hosts: string, extras: HostsFileExtras): string {
  if (!extras.hostAliases?.length) return hosts;
  const lines = [hosts.replace(/\n*$/, ''), '', '# Entries added by HostAliases.'];
  for (const a of extras.hostAliases) lines.push(`${a.ip}\t${(a.hostnames ?? []).join('\t')}`);
  return `${lines.join('\n')}\n`;
}

/** The pod's sysctls (all namespaced, validation saw to it), set on its sandbox whose namespaces the containers share. */
export function podSysctls(pod: Pod): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of pod.spec.securityContext?.sysctls ?? []) if (isNamespacedSysctl(s.name)) out[s.name.replace(/\//g, '.')] = s.value ?? '';
  return out;
}

const SKIP_DEV = new Set(['pts', 'shm', 'mqueue', 'fd', 'core', 'stdin', 'stdout', 'stderr', 'console', 'ptmx', 'hugepages']);

/** The host's device nodes (char and block, below /dev), for privileged containers. */
export function hostDevices(root = '/dev'): OciDevice[] {
  const out: OciDevice[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (depth === 0 && SKIP_DEV.has(e.name)) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (depth < 3) walk(p, depth + 1);
        continue;
      }
      if (!e.isCharacterDevice() && !e.isBlockDevice()) continue;
      try {
        const st = fs.statSync(p);
        const rdev = st.rdev;
        const major = Number((BigInt(rdev) >> 8n) & 0xfffn);
        const minor = Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & 0xfff00n));
        out.push({ path: p, type: e.isBlockDevice() ? 'b' : 'c', major, minor, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
      } catch {
        /* gone meanwhile */
      }
    }
  };
  walk(root, 0);
  return out;
}

/** The namespaces of an application container: net/ipc/uts of the sandbox, pid too when shared, its own mount. */
export function containerNamespaces(s: SandboxPlacement): OciSpecInput['namespaces'] {
  const ns = (kind: string): NamespaceSource => ({ path: `/proc/${s.pausePid}/ns/${kind}` });
  return {
    network: s.hostNetwork ? 'host' : { path: s.netnsPath! },
    ipc: ns('ipc'),
    // hostNetwork pods see the node's hostname, as in Kubernetes: pause kept the host UTS.
    uts: s.hostNetwork ? 'host' : ns('uts'),
    pid: s.shareProcessNamespace ? ns('pid') : 'new',
  };
}

export interface ContainerSpecArgs {
  pod: Pod;
  container: Container;
  /** The container's own environment, as the agent resolved it (absent: its plain values). */
  env?: ResolvedEnvVar[];
  image: ImageRuntimeConfig;
  rootfs: string;
  sandbox: SandboxPlacement;
  hostname: string;
  volumes: Record<string, ResolvedVolume>;
  etc: EtcFiles;
  cgroupsPath: string;
  maxOpenFiles: number;
  pidsLimit?: number;
}

export function containerSpecInput(a: ContainerSpecArgs): OciSpecInput {
  const security = effectiveSecurity(a.pod.spec.securityContext, a.container.securityContext);
  return {
    security,
    podRef: { name: a.pod.metadata.name ?? '', namespace: a.pod.metadata.namespace ?? '', uid: a.pod.metadata.uid ?? '' },
    ...(security.privileged ? { hostDevices: hostDevices(), hostCapabilities: capabilitiesFromStatus(fs.readFileSync('/proc/self/status', 'utf8')) } : {}),
    container: a.container,
    ...(a.env ? { env: a.env } : {}),
    image: {
      Entrypoint: a.image.entrypoint,
      Cmd: a.image.cmd,
      Env: a.image.env,
      WorkingDir: a.image.workingDir,
      User: a.image.user,
    },
    rootfs: a.rootfs,
    // User and group names of the image are looked up in its own files, as containerd does.
    accounts: readRootfsAccounts(a.rootfs),
    hostname: a.hostname,
    namespaces: containerNamespaces(a.sandbox),
    volumes: a.volumes,
    sandboxFiles: { hostname: a.etc.hostname, hosts: a.etc.hosts, resolvConf: a.etc.resolvConf, ...(a.etc.shm ? { shm: a.etc.shm } : {}) },
    cgroupsPath: a.cgroupsPath,
    maxOpenFiles: a.maxOpenFiles,
    ...(a.pidsLimit !== undefined ? { pidsLimit: a.pidsLimit } : {}),
    annotations: {
      [LABELS.podUid]: a.pod.metadata.uid!,
      [LABELS.podName]: a.pod.metadata.name ?? '',
      [LABELS.podNamespace]: a.pod.metadata.namespace ?? '',
    },
  };
}

/** Where pause's binary sits inside its rootfs. */
export const PAUSE_IN_ROOTFS = '/pause';

export interface PauseSpecArgs {
  pod: Pod;
  /** The shared pause rootfs (directories and an empty /pause to bind the binary onto). */
  rootfs: string;
  /** The static pause binary on the host. */
  pauseBinary: string;
  /** The pinned network namespace; absent for hostNetwork pods. */
  netnsPath?: string;
  hostname: string;
  cgroupsPath: string;
}

/**
 * The pause container: PID 1 of a new PID namespace (which it holds when the
 * pod shares one), a new IPC namespace, a new UTS namespace with the pod's
 * hostname (the host's for hostNetwork pods), the pod's network namespace. It
 * needs no capability and never writes to its rootfs.
 */
export function pauseSpec(a: PauseSpecArgs): OciSpec {
  const hostNetwork = a.netnsPath === undefined;
  const spec = buildOciSpec({
    container: {
      name: 'POD',
      command: [PAUSE_IN_ROOTFS],
      volumeMounts: [{ name: 'pause', mountPath: PAUSE_IN_ROOTFS, readOnly: true }],
    },
    rootfs: a.rootfs,
    hostname: a.hostname,
    namespaces: {
      network: hostNetwork ? 'host' : { path: a.netnsPath! },
      ipc: 'new',
      uts: hostNetwork ? 'host' : 'new',
      pid: 'new',
    },
    // The pod's sysctls: pause holds the IPC namespace and sits in the network namespace the containers join.
    sysctls: podSysctls(a.pod),
    volumes: { pause: { hostPath: a.pauseBinary } },
    cgroupsPath: a.cgroupsPath,
    maxOpenFiles: 1024,
    pidsLimit: 16,
    annotations: {
      [LABELS.podUid]: a.pod.metadata.uid!,
      [LABELS.podName]: a.pod.metadata.name ?? '',
      [LABELS.podNamespace]: a.pod.metadata.namespace ?? '',
    },
  });
  spec.root.readonly = true;
  spec.process.capabilities = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] };
  return spec;
}
