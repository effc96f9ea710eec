// From a pod's spec to the input of buildOciSpec, for the pod's pause
// container and for each of its containers. Pure: which namespaces are joined
// and how, the hostname, the image config, the /etc files — all data, checked
// by table tests; the runtime only writes what comes out.
import type { Container, Pod } from '../../api/index.js';
import type { ImageRuntimeConfig } from '../images/index.js';
import { buildOciSpec, type NamespaceSource, type OciSpec, type OciSpecInput, type ResolvedEnvVar, type ResolvedVolume } from '../runtime/index.js';
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

/** /etc/hosts of a pod: loopback, and the pod's own name on its IP. */
export function podHostsFile(hostname: string, podIP?: string): string {
  const lines = ['# Kubernetes-managed hosts file (flotilla).', '127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback'];
  if (podIP) lines.push(`${podIP}\t${hostname}`);
  return `${lines.join('\n')}\n`;
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
  return {
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
