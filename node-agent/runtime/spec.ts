// The OCI runtime spec (config.json) of one container, built by a pure function
// from the pod's container, the image config and where the sandbox lives. The
// decision is data: table tests check it without crun, the driver only writes it.
import { parseQuantity, type Container, type EnvVar } from '../../api/index.js';
import { ALL_CAPABILITIES, normalizeCapability, type EffectiveSecurity } from '../../api/kinds/pod-security.js';
import { resolveUser, UnknownAccountError, type RootfsAccounts } from './accounts.js';
import { InvalidContainerConfigError } from './errors.js';

// ---------------------------------------------------------------------------
// The part of the OCI runtime spec 1.0 that Flotilla writes.

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface OciRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  inheritable: string[];
  permitted: string[];
  ambient: string[];
}

export interface OciProcess {
  terminal: boolean;
  user: { uid: number; gid: number; additionalGids?: number[] };
  args: string[];
  env: string[];
  cwd: string;
  capabilities: OciCapabilities;
  rlimits: OciRlimit[];
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
}

export interface OciNamespace {
  type: 'pid' | 'network' | 'ipc' | 'uts' | 'mount' | 'user' | 'cgroup';
  path?: string;
}

export interface OciDeviceRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access: string;
}

export interface OciResources {
  devices: OciDeviceRule[];
  memory?: { limit?: number; swap?: number };
  cpu?: { shares?: number; quota?: number; period?: number };
  pids?: { limit: number };
}

export interface OciDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface OciSeccompRule {
  names: string[];
  action: 'SCMP_ACT_ERRNO' | 'SCMP_ACT_ALLOW';
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: 'SCMP_CMP_MASKED_EQ' | 'SCMP_CMP_EQ' }[];
}

export interface OciSeccomp {
  defaultAction: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  architectures?: string[];
  syscalls: OciSeccompRule[];
}

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: OciMount[];
  annotations: Record<string, string>;
  linux: {
    namespaces: OciNamespace[];
    cgroupsPath: string;
    resources: OciResources;
    maskedPaths: string[];
    readonlyPaths: string[];
    sysctl?: Record<string, string>;
    seccomp?: OciSeccomp;
    devices?: OciDevice[];
  };
}

// ---------------------------------------------------------------------------
// Input.

/** The parts of an OCI image config (`config` object) that shape the process. */
export interface ImageProcessConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
}

/** Where a namespace comes from: a fresh one, the host's, or an existing one joined by path. */
export type NamespaceSource = 'new' | 'host' | { path: string };

/** A pod volume resolved to a host directory or file (emptyDir dir of the pod, hostPath, configMap/secret files). */
export interface ResolvedVolume {
  hostPath: string;
  /** Always mounted read-only, whatever the volumeMount says (configMap and secret volumes, as the kubelet mounts them). */
  readOnly?: boolean;
}

/** One variable of a container's own environment, its value final (resolved and expanded). */
export interface ResolvedEnvVar {
  name: string;
  value: string;
}

export interface OciSpecInput {
  /** Container name in the pod spec; `image` names the image in errors about its config. */
  container: Pick<Container, 'name' | 'command' | 'args' | 'env' | 'workingDir' | 'resources' | 'volumeMounts' | 'tty'> & { image?: string };
  /**
   * The container's own environment, resolved by the agent (valueFrom, envFrom,
   * $(VAR) expansion: node-agent/config/env.ts). Absent: the plain `value`s of
   * `container.env`, expanded here.
   */
  env?: ResolvedEnvVar[];
  image?: ImageProcessConfig;
  /** Absolute path of the rootfs (the overlay mount of the image's layers). */
  rootfs: string;
  /** Hostname of the pod; set only when the container has its own UTS namespace. */
  hostname: string;
  namespaces: {
    network: NamespaceSource;
    ipc: NamespaceSource;
    uts: NamespaceSource;
    /** `new` unless the pod sets shareProcessNamespace (then the sandbox's). */
    pid: NamespaceSource;
  };
  /** Pod volumes by name, already resolved on the host. */
  volumes?: Record<string, ResolvedVolume>;
  /** Files of the sandbox bind-mounted over the container's /etc files. */
  sandboxFiles?: { hostname?: string; hosts?: string; resolvConf?: string; shm?: string };
  /** Absolute cgroup path, e.g. `/flotilla/pod<uid>/<container-id>`. */
  cgroupsPath: string;
  /** RLIMIT_NOFILE soft and hard; must not exceed the host's hard limit (the agent passes min(1048576, host hard)). */
  maxOpenFiles?: number;
  /** Pids limit of the container's cgroup. */
  pidsLimit?: number;
  /** Extra annotations (pod uid, container name… for re-adoption). */
  annotations?: Record<string, string>;
  /** User override as `uid[:gid]`; else securityContext.runAsUser; else the image's User; else 0. */
  user?: { uid: number; gid: number };
  /**
   * The image's /etc/passwd and /etc/group (readRootfsAccounts of the rootfs):
   * user and group names are looked up there, and so are the image groups the
   * user is a member of. Absent: the image has neither file.
   */
  accounts?: RootfsAccounts;
  /** The container's effective securityContext (api/kinds/pod-security.ts effectiveSecurity). */
  security?: EffectiveSecurity;
  /** Who the container belongs to, for the runAsNonRoot messages (kubelet's `name_namespace(uid)`). */
  podRef?: { name: string; namespace: string; uid: string };
  /** The capabilities the agent itself holds (its bounding set): a privileged container gets those. */
  hostCapabilities?: string[];
  /** The host's device nodes, given to privileged containers. */
  hostDevices?: OciDevice[];
  /** Namespaced sysctls (the sandbox sets the pod's). */
  sysctls?: Record<string, string>;
}

// ---------------------------------------------------------------------------
// Defaults: what containerd and CRI-O give a Kubernetes container.

export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** CFS period: 100 ms, as the kubelet uses. */
export const CFS_PERIOD_US = 100_000;
const MIN_CFS_QUOTA_US = 1_000;
const MIN_SHARES = 2;
const MAX_SHARES = 262_144;
const DEFAULT_MAX_OPEN_FILES = 1024;

/** Annotation keys Flotilla writes into every config.json (read back on re-adoption). */
export const ANNOTATIONS = {
  podUid: 'io.kubernetes.pod.uid',
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  containerName: 'io.kubernetes.container.name',
} as const;

/** Devices every container may use (the rest of the cgroup device list is denied). */
const ALLOWED_DEVICES: OciDeviceRule[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // pts/*
];

// ---------------------------------------------------------------------------
// Pieces, exported for their own table tests.

/**
 * The process argv with Kubernetes semantics: `command` replaces the image
 * Entrypoint (and drops its Cmd), `args` replace the image Cmd.
 */
export function processArgs(c: Pick<Container, 'command' | 'args'>, image: ImageProcessConfig = {}): string[] {
  const entrypoint = c.command && c.command.length > 0 ? c.command : (image.Entrypoint ?? []);
  const cmd = c.args && c.args.length > 0 ? c.args : c.command && c.command.length > 0 ? [] : (image.Cmd ?? []);
  return [...entrypoint, ...cmd];
}

/**
 * Kubernetes `$(VAR)` expansion: a reference to a defined variable is replaced,
 * `$$` is an escaped `$`, a reference to an undefined variable stays as written.
 */
export function expandVars(s: string, vars: ReadonlyMap<string, string>): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch !== '$' || i + 1 >= s.length) {
      out += ch;
      continue;
    }
    const next = s[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const end = s.indexOf(')', i + 2);
      if (end < 0) {
        out += s.slice(i);
        break;
      }
      const name = s.slice(i + 2, end);
      const v = vars.get(name);
      out += v ?? `$(${name})`;
      i = end;
    } else {
      out += ch;
    }
  }
  return out;
}

/**
 * The plain `value`s of a container's env, each expanded with $(VAR) against
 * the container's variables before it (as Kubernetes: not against the image's).
 * `valueFrom` entries are the agent's to resolve (node-agent/config/env.ts); here they are empty.
 */
export function expandPlainEnv(env: readonly EnvVar[] | undefined): ResolvedEnvVar[] {
  const vars = new Map<string, string>();
  for (const e of env ?? []) vars.set(e.name, e.value ? expandVars(e.value, vars) : '');
  return [...vars].map(([name, value]) => ({ name, value }));
}

/**
 * Image env, then EXTRA (HOSTNAME), then the container's own variables (later
 * wins); PATH defaulted. The container's values are taken as they are: they
 * were expanded when they were resolved.
 */
export function processEnv(
  containerEnv: readonly { name: string; value?: string }[] | undefined,
  image: ImageProcessConfig = {},
  extra: Record<string, string> = {},
): string[] {
  const vars = new Map<string, string>();
  if (!(image.Env ?? []).some((e) => e.startsWith('PATH='))) vars.set('PATH', DEFAULT_PATH);
  for (const e of image.Env ?? []) {
    const eq = e.indexOf('=');
    if (eq > 0) vars.set(e.slice(0, eq), e.slice(eq + 1));
  }
  for (const [k, v] of Object.entries(extra)) vars.set(k, v);
  for (const e of containerEnv ?? []) vars.set(e.name, e.value ?? '');
  return [...vars].map(([k, v]) => `${k}=${v}`);
}

/** CPU and memory of the container's cgroup from its resources (Kubernetes kubelet arithmetic). */
export function cgroupResources(resources: Container['resources'], pidsLimit?: number): OciResources {
  const out: OciResources = { devices: ALLOWED_DEVICES.map((d) => ({ ...d })) };
  const limits = resources?.limits ?? {};
  const requests = resources?.requests ?? {};
  const cpuLimit = limits.cpu !== undefined ? parseQuantity(limits.cpu).toMilli() : undefined;
  const cpuRequest = requests.cpu !== undefined ? parseQuantity(requests.cpu).toMilli() : cpuLimit;
  const cpu: NonNullable<OciResources['cpu']> = { shares: milliCpuToShares(cpuRequest ?? 0) };
  if (cpuLimit !== undefined && cpuLimit > 0) {
    cpu.quota = Math.max(MIN_CFS_QUOTA_US, Math.floor((cpuLimit * CFS_PERIOD_US) / 1000));
    cpu.period = CFS_PERIOD_US;
  }
  out.cpu = cpu;
  if (limits.memory !== undefined) {
    const bytes = parseQuantity(limits.memory).toBytes();
    if (bytes > 0) out.memory = { limit: bytes, swap: bytes };
  }
  if (pidsLimit !== undefined && pidsLimit > 0) out.pids = { limit: pidsLimit };
  return out;
}

export function milliCpuToShares(milli: number): number {
  if (milli <= 0) return MIN_SHARES;
  return Math.min(MAX_SHARES, Math.max(MIN_SHARES, Math.floor((milli * 1024) / 1000)));
}

/**
 * The capability set of a container: the runtime default, `drop: [ALL]`
 * empties it, `add` adds (`ALL`: every capability), then the other drops
 * remove. Privileged: every capability. Names with or without CAP_.
 */
export function containerCapabilities(sec: Pick<EffectiveSecurity, 'capabilities' | 'privileged'> | undefined, host?: readonly string[]): string[] {
  const all = ALL_CAPABILITIES.map((c) => `CAP_${c}`);
  if (sec?.privileged) return host ? all.filter((c) => host.includes(c)) : all;
  const norm = (l: string[] | undefined) => (l ?? []).map((n) => normalizeCapability(n)).filter((n): n is string => n !== undefined);
  const add = norm(sec?.capabilities?.add);
  const drop = norm(sec?.capabilities?.drop);
  let caps = drop.includes('ALL') ? [] : [...DEFAULT_CAPABILITIES];
  if (add.includes('ALL')) caps = [...all];
  for (const c of add) if (c !== 'ALL' && !caps.includes(c)) caps.push(c);
  return caps.filter((c) => !drop.includes(c));
}

const EPERM = 1;
const ENOSYS = 38;
/** Namespace flags of clone(2) a container without CAP_SYS_ADMIN may not use. */
const CLONE_NS_FLAGS = {
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
};

/**
 * Flotilla's RuntimeDefault seccomp profile: everything is allowed except the
 * calls that reach the host kernel's global state (modules, reboot, kexec,
 * swap, clocks, accounting, the keyring, bpf, perf, userfaultfd…), each
 * answered EPERM. Calls a capability would allow are blocked only when the
 * container lacks that capability; namespaces (unshare, setns, clone with a
 * CLONE_NEW* flag, mount) need CAP_SYS_ADMIN. clone3 answers ENOSYS without
 * it (its flags are in memory, out of a filter's reach), so libc falls back to clone.
 */
export function runtimeDefaultSeccomp(caps: readonly string[], arch: string = process.arch): OciSeccomp {
  const has = (c: string) => caps.includes(`CAP_${c}`);
  const deny: string[] = [
    // no capability makes these safe in a container
    'add_key', 'keyctl', 'request_key', 'userfaultfd', 'uselib', 'ustat', 'sysfs', '_sysctl', 'nfsservctl', 'vm86', 'vm86old',
    'create_module', 'get_kernel_syms', 'query_module', 'lookup_dcookie', 'kexec_load', 'kexec_file_load',
  ];
  const byCap: Record<string, string[]> = {
    SYS_MODULE: ['init_module', 'finit_module', 'delete_module'],
    SYS_BOOT: ['reboot'],
    SYS_TIME: ['clock_settime', 'clock_adjtime', 'settimeofday', 'stime'],
    SYS_PACCT: ['acct'],
    SYS_RAWIO: ['iopl', 'ioperm'],
    DAC_READ_SEARCH: ['open_by_handle_at'],
    SYSLOG: ['syslog'],
    BPF: ['bpf'],
    PERFMON: ['perf_event_open'],
    SYS_ADMIN: [
      'mount', 'umount', 'umount2', 'pivot_root', 'unshare', 'setns', 'swapon', 'swapoff', 'quotactl', 'fanotify_init',
      'move_mount', 'open_tree', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr', 'name_to_handle_at',
    ],
  };
  for (const [cap, names] of Object.entries(byCap)) if (!has(cap)) deny.push(...names);
  // bpf and perf_event_open were CAP_SYS_ADMIN's before their own capabilities.
  if (has('SYS_ADMIN')) for (const n of [...(has('BPF') ? [] : ['bpf']), ...(has('PERFMON') ? [] : ['perf_event_open'])]) deny.splice(deny.indexOf(n), 1);
  const syscalls: OciSeccompRule[] = [{ names: deny, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM }];
  if (!has('SYS_ADMIN')) {
    for (const flag of Object.values(CLONE_NS_FLAGS)) {
      syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }] });
    }
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  const architectures =
    arch === 'x64' ? ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] : arch === 'arm64' ? ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] : undefined;
  return { defaultAction: 'SCMP_ACT_ALLOW', ...(architectures ? { architectures } : {}), syscalls };
}

/** The capability names of a `CapBnd:` hex mask of /proc/PID/status text. */
export function capabilitiesFromStatus(status: string, field = 'CapBnd'): string[] {
  const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status);
  if (!m) return ALL_CAPABILITIES.map((c) => `CAP_${c}`);
  const mask = BigInt(`0x${m[1]}`);
  return ALL_CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n).map((c) => `CAP_${c}`);
}

/** kubelet's `name_namespace(uid)` of a pod. */
function formatPod(ref: OciSpecInput['podRef']): string {
  return ref ? `${ref.name}_${ref.namespace}(${ref.uid})` : '';
}

/** The process user with the image groups containerd adds as supplementary groups. */
export interface ProcessUser {
  uid: number;
  gid: number;
  imageGroups: number[];
}

/**
 * USER resolved against the image's accounts; a name the image does not
 * define fails the container's creation, naming the user and the image.
 */
function resolveAgainstImage(user: string, input: Pick<OciSpecInput, 'accounts' | 'container'>, fallbackGid: (uid: number) => number): ProcessUser {
  try {
    return resolveUser(user, input.accounts ?? {}, fallbackGid);
  } catch (e) {
    if (!(e instanceof UnknownAccountError)) throw e;
    const image = input.container.image ? `image ${JSON.stringify(input.container.image)}` : 'the image';
    const why = UnknownAccountError.describe(e.kind, e.account, e.fileMissing, image);
    throw new InvalidContainerConfigError(`failed to generate container ${JSON.stringify(input.container.name)} spec: ${why}`, 'CreateContainerError');
  }
}

/**
 * The process user: runAsUser/runAsGroup over the image's User, names looked
 * up in the image's /etc/passwd and /etc/group. runAsNonRoot refuses uid 0,
 * and — checked before any lookup, as the kubelet checks it — an image user
 * given by name, which it cannot verify; both in the kubelet's words.
 */
export function processUser(input: Pick<OciSpecInput, 'user' | 'security' | 'podRef' | 'container' | 'accounts'>, image: ImageProcessConfig): ProcessUser {
  if (input.user) return { ...input.user, imageGroups: [] };
  const sec = input.security;
  const who = `(pod: ${JSON.stringify(formatPod(input.podRef))}, container: ${input.container.name})`;
  let user: ProcessUser;
  if (sec?.runAsUser !== undefined) {
    // runAsUser replaces the image's user and group; without runAsGroup the gid
    // is the uid's in the image's /etc/passwd, else 0, as with containerd.
    user = resolveAgainstImage(String(sec.runAsUser), input, () => 0);
  } else {
    const raw = image.User?.split(':')[0] ?? '';
    if (sec?.runAsNonRoot && raw !== '' && !/^\d+$/.test(raw)) {
      throw new InvalidContainerConfigError(`container has runAsNonRoot and image has non-numeric user (${raw}), cannot verify user is non-root ${who}`);
    }
    // A bare numeric image user the image does not list runs with gid 0, as containerd's WithUserID.
    user = resolveAgainstImage(image.User ?? '', input, () => 0);
  }
  if (sec?.runAsGroup !== undefined) user = { ...user, gid: sec.runAsGroup };
  if (sec?.runAsNonRoot && user.uid === 0) {
    if (sec.runAsUser === 0) throw new InvalidContainerConfigError(`container's runAsUser breaks non-root policy ${who}`);
    throw new InvalidContainerConfigError(`container has runAsNonRoot and image will run as root ${who}`);
  }
  return user;
}

function namespaceEntry(type: OciNamespace['type'], src: NamespaceSource): OciNamespace | undefined {
  if (src === 'host') return undefined;
  if (src === 'new') return { type };
  return { type, path: src.path };
}

function bind(destination: string, source: string, readOnly: boolean): OciMount {
  return { destination, type: 'bind', source, options: ['rbind', 'rprivate', readOnly ? 'ro' : 'rw'] };
}

function standardMounts(shm: string | undefined): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    shm
      ? bind('/dev/shm', shm, false)
      : { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

function assertAbsolute(what: string, p: string): void {
  if (!p.startsWith('/')) throw new InvalidContainerConfigError(`${what} must be an absolute path, got "${p}"`);
}

// ---------------------------------------------------------------------------

/** The complete config.json of one container. Pure: same input, same spec. */
export function buildOciSpec(input: OciSpecInput): OciSpec {
  const c = input.container;
  const image = input.image ?? {};
  assertAbsolute('rootfs', input.rootfs);
  assertAbsolute('linux.cgroupsPath', input.cgroupsPath);

  const own = input.env ?? expandPlainEnv(c.env);
  const env = processEnv(own, image, { HOSTNAME: input.hostname });
  // As Kubernetes: command/args from the pod spec are expanded against the container's own
  // variables (not the image's); image Entrypoint/Cmd are taken as they are.
  const vars = new Map(own.map((e) => [e.name, e.value]));
  const args = processArgs(
    { command: c.command?.map((a) => expandVars(a, vars)), args: c.args?.map((a) => expandVars(a, vars)) },
    image,
  );
  if (args.length === 0) {
    throw new InvalidContainerConfigError(`container ${c.name}: no command given and the image has no Entrypoint or Cmd`);
  }

  const cwd = c.workingDir || image.WorkingDir || '/';
  assertAbsolute('workingDir', cwd);
  const user = processUser(input, image);
  const sec = input.security;
  const privileged = sec?.privileged === true;
  const caps = input.security ? containerCapabilities(sec, input.hostCapabilities) : [...DEFAULT_CAPABILITIES];
  // containerd's order: the image groups of the user, then supplementalGroups, then fsGroup.
  const additionalGids = [...new Set([...user.imageGroups, ...(sec?.supplementalGroups ?? []), ...(sec?.fsGroup !== undefined ? [sec.fsGroup] : [])])];
  const nofile = input.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES;

  const namespaces: OciNamespace[] = [];
  for (const [type, src] of [
    ['pid', input.namespaces.pid],
    ['network', input.namespaces.network],
    ['ipc', input.namespaces.ipc],
    ['uts', input.namespaces.uts],
  ] as const) {
    const ns = namespaceEntry(type, src);
    if (ns) namespaces.push(ns);
  }
  namespaces.push({ type: 'mount' });

  const files = input.sandboxFiles ?? {};
  const mounts = standardMounts(files.shm);
  if (privileged) {
    // A privileged container gets a writable /sys and cgroup tree, as with other runtimes.
    for (const m of mounts) if (m.destination === '/sys' || m.destination === '/sys/fs/cgroup') m.options = m.options!.map((o) => (o === 'ro' ? 'rw' : o));
  }
  if (files.hostname) mounts.push(bind('/etc/hostname', files.hostname, true));
  if (files.hosts) mounts.push(bind('/etc/hosts', files.hosts, false));
  if (files.resolvConf) mounts.push(bind('/etc/resolv.conf', files.resolvConf, false));
  for (const vm of c.volumeMounts ?? []) {
    const vol = input.volumes?.[vm.name];
    if (!vol) throw new InvalidContainerConfigError(`container ${c.name}: volume "${vm.name}" is not defined in the pod`);
    assertAbsolute(`volumeMounts[${vm.name}].mountPath`, vm.mountPath);
    const source = vm.subPath ? `${vol.hostPath.replace(/\/+$/, '')}/${vm.subPath}` : vol.hostPath;
    mounts.push(bind(vm.mountPath, source, vm.readOnly === true || vol.readOnly === true));
  }

  const spec: OciSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: c.tty === true,
      user: { uid: user.uid, gid: user.gid, ...(additionalGids.length > 0 ? { additionalGids } : {}) },
      args,
      env,
      cwd,
      capabilities: {
        bounding: [...caps],
        effective: [...caps],
        inheritable: [],
        permitted: [...caps],
        ambient: [],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }],
      // As the kubelet: no_new_privs only when allowPrivilegeEscalation is false (never for privileged).
      noNewPrivileges: input.security ? !privileged && !sec!.allowPrivilegeEscalation : true,
    },
    root: { path: input.rootfs, readonly: sec?.readOnlyRootFilesystem === true },
    mounts,
    annotations: { ...(input.annotations ?? {}), [ANNOTATIONS.containerName]: c.name },
    linux: {
      namespaces,
      cgroupsPath: input.cgroupsPath,
      resources: cgroupResources(c.resources, input.pidsLimit),
      maskedPaths: privileged ? [] : [...DEFAULT_MASKED_PATHS],
      readonlyPaths: privileged ? [] : [...DEFAULT_READONLY_PATHS],
    },
  };
  if (privileged) {
    spec.linux.resources.devices = [{ allow: true, access: 'rwm' }];
    if (input.hostDevices && input.hostDevices.length > 0) spec.linux.devices = input.hostDevices.map((d) => ({ ...d }));
  } else if (sec?.seccomp === 'RuntimeDefault') {
    spec.linux.seccomp = runtimeDefaultSeccomp(caps);
  }
  if (input.sysctls && Object.keys(input.sysctls).length > 0) spec.linux.sysctl = { ...input.sysctls };
  // A hostname can only be set in a UTS namespace of the container's own.
  if (input.namespaces.uts === 'new') spec.hostname = input.hostname;
  return spec;
}

/** min(wanted, host hard limit) for RLIMIT_NOFILE, from the text of /proc/self/limits. */
export function maxOpenFilesFromLimits(procLimits: string, wanted = 1_048_576): number {
  const line = procLimits.split('\n').find((l) => l.startsWith('Max open files'));
  const hard = line?.trim().split(/\s+/)[4];
  const n = hard === undefined || hard === 'unlimited' ? Infinity : Number(hard);
  return Number.isFinite(n) && n > 0 ? Math.min(wanted, n) : wanted;
}
