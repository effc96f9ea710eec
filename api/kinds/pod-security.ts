// securityContext (pod and container), hostAliases and imagePullSecrets of a
// pod spec: their types, their validation (worded as kube-apiserver words it)
// and the effective context of one container (container fields win over the
// pod's), which the node agent turns into the OCI spec.
import { dns1123SubdomainErrors } from '../validation-rules.js';
import { FieldErrors, bool, int, ip, obj, objItems, oneOf, str, stringArray } from '../validation-core.js';

type Obj = Record<string, unknown>;

export interface Capabilities {
  add?: string[];
  drop?: string[];
}

export interface SeccompProfile {
  type: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  localhostProfile?: string;
}

export interface Sysctl {
  name: string;
  value: string;
}

export interface PodSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  fsGroupChangePolicy?: 'Always' | 'OnRootMismatch';
  supplementalGroups?: number[];
  sysctls?: Sysctl[];
  seccompProfile?: SeccompProfile;
}

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: Capabilities;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  seccompProfile?: SeccompProfile;
  procMount?: 'Default' | 'Unmasked';
}

export interface HostAlias {
  ip: string;
  hostnames?: string[];
}

/** Every Linux capability (without the CAP_ prefix), numbered as the kernel numbers them. */
export const ALL_CAPABILITIES: readonly string[] = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT',
  'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE',
  'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ',
  'PERFMON', 'BPF', 'CHECKPOINT_RESTORE',
];

/** `chown`, `CAP_CHOWN`, `cap_chown` → `CAP_CHOWN`; `ALL` stays `ALL`; unknown → undefined. */
export function normalizeCapability(name: string): string | undefined {
  const up = name.toUpperCase();
  if (up === 'ALL') return 'ALL';
  const bare = up.startsWith('CAP_') ? up.slice(4) : up;
  return ALL_CAPABILITIES.includes(bare) ? `CAP_${bare}` : undefined;
}

/** Whether a sysctl is namespaced (may be set per pod): net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*. */
export function isNamespacedSysctl(name: string): boolean {
  const n = name.replace(/\//g, '.');
  return n.startsWith('net.') || n.startsWith('kernel.shm') || n.startsWith('kernel.msg') || n === 'kernel.sem' || n.startsWith('fs.mqueue.');
}

const SYSCTL_SEGMENT = '[a-z0-9]([-_a-z0-9]*[a-z0-9])?';
const SYSCTL_RE = new RegExp(`^(${SYSCTL_SEGMENT}[\\./])*${SYSCTL_SEGMENT}$`);
const SYSCTL_MAX = 253;
const MAX_ID = 2147483647;
const RANGE = `must be between 0 and ${MAX_ID}, inclusive`;
const NOT_SUPPORTED = 'not supported by Flotilla';

function id(e: FieldErrors, o: Obj, key: string, path: string): number | undefined {
  const v = int(e, o, key, path);
  if (v !== undefined && (v < 0 || v > MAX_ID)) e.invalid(path, v, RANGE);
  return v;
}

function refuse(e: FieldErrors, o: Obj, keys: readonly string[], path: string): void {
  for (const k of keys) {
    const v = o[k];
    if (v !== undefined && v !== null && !(typeof v === 'object' && Object.keys(v as Obj).length === 0)) e.forbidden(`${path}.${k}`, NOT_SUPPORTED);
  }
}

function validateSeccomp(e: FieldErrors, sc: Obj, path: string): void {
  const sp = obj(e, sc, 'seccompProfile', `${path}.seccompProfile`);
  if (!sp) return;
  const p = `${path}.seccompProfile`;
  const t = str(e, sp, 'type', `${p}.type`, true);
  if (t === undefined) return;
  if (!['RuntimeDefault', 'Unconfined', 'Localhost'].includes(t)) e.notSupported(`${p}.type`, t, ['Localhost', 'RuntimeDefault', 'Unconfined']);
  else if (t === 'Localhost') e.forbidden(`${p}.type`, 'Localhost seccomp profiles are not supported by Flotilla (use RuntimeDefault or Unconfined)');
  else if (sp.localhostProfile !== undefined && sp.localhostProfile !== null) e.invalid(`${p}.localhostProfile`, sp.localhostProfile, 'can only be set when seccomp type is Localhost');
}

function validateCommon(e: FieldErrors, sc: Obj, path: string): void {
  id(e, sc, 'runAsUser', `${path}.runAsUser`);
  id(e, sc, 'runAsGroup', `${path}.runAsGroup`);
  bool(e, sc, 'runAsNonRoot', `${path}.runAsNonRoot`);
  validateSeccomp(e, sc, path);
  refuse(e, sc, ['seLinuxOptions', 'appArmorProfile', 'windowsOptions'], path);
}

/** spec.securityContext. */
export function validatePodSecurityContext(e: FieldErrors, spec: Obj): void {
  const path = 'spec.securityContext';
  const sc = obj(e, spec, 'securityContext', path);
  if (!sc) return;
  validateCommon(e, sc, path);
  id(e, sc, 'fsGroup', `${path}.fsGroup`);
  oneOf(e, sc, 'fsGroupChangePolicy', `${path}.fsGroupChangePolicy`, ['OnRootMismatch', 'Always']);
  const groups = sc.supplementalGroups;
  if (groups !== undefined && groups !== null) {
    if (!Array.isArray(groups)) e.wrongType(`${path}.supplementalGroups`, groups, 'an array');
    else
      groups.forEach((g, i) => {
        const gp = `${path}.supplementalGroups[${i}]`;
        if (typeof g !== 'number' || !Number.isSafeInteger(g)) e.wrongType(gp, g, 'an integer');
        else if (g < 0 || g > MAX_ID) e.invalid(gp, g, RANGE);
      });
  }
  refuse(e, sc, ['seLinuxChangePolicy', 'supplementalGroupsPolicy'], path);
  const seen = new Set<string>();
  const hostNetwork = spec.hostNetwork === true;
  for (const [s, p] of objItems(e, sc, 'sysctls', `${path}.sysctls`)) {
    const name = str(e, s, 'name', `${p}.name`, true);
    str(e, s, 'value', `${p}.value`);
    if (name === undefined) continue;
    if (name.length > SYSCTL_MAX || !SYSCTL_RE.test(name)) {
      e.invalid(`${p}.name`, name, `must have at most ${SYSCTL_MAX} characters and match regex ${SYSCTL_RE.source}`);
      continue;
    }
    const key = name.replace(/\//g, '.');
    if (seen.has(key)) e.duplicate(`${p}.name`, name);
    seen.add(key);
    if (!isNamespacedSysctl(name)) {
      e.forbidden(`${p}.name`, `sysctl ${JSON.stringify(name)} is not namespaced: a pod may set only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*`);
    } else if (hostNetwork && key.startsWith('net.')) {
      e.invalid(`${p}.name`, name, "may not be specified when 'hostNetwork' is true");
    }
  }
}

/** spec.{containers,initContainers}[i].securityContext, with the kube-apiserver's cross-field checks. */
export function validateContainerSecurityContext(e: FieldErrors, c: Obj, cpath: string): void {
  const path = `${cpath}.securityContext`;
  const sc = obj(e, c, 'securityContext', path);
  if (!sc) return;
  validateCommon(e, sc, path);
  const privileged = bool(e, sc, 'privileged', `${path}.privileged`);
  const ape = bool(e, sc, 'allowPrivilegeEscalation', `${path}.allowPrivilegeEscalation`);
  bool(e, sc, 'readOnlyRootFilesystem', `${path}.readOnlyRootFilesystem`);
  const pm = oneOf(e, sc, 'procMount', `${path}.procMount`, ['Default', 'Unmasked']);
  if (pm === 'Unmasked') e.forbidden(`${path}.procMount`, `Unmasked is ${NOT_SUPPORTED}`);
  const caps = obj(e, sc, 'capabilities', `${path}.capabilities`);
  let addsSysAdmin = false;
  if (caps) {
    for (const k of ['add', 'drop'] as const) {
      const list = stringArray(e, caps, k, `${path}.capabilities.${k}`) ?? [];
      list.forEach((name, i) => {
        const n = normalizeCapability(name);
        if (!n) e.invalid(`${path}.capabilities.${k}[${i}]`, name, 'must be a Linux capability name (e.g. NET_ADMIN or CAP_NET_ADMIN) or ALL');
        if (k === 'add' && n === 'CAP_SYS_ADMIN') addsSysAdmin = true;
      });
    }
  }
  if (ape === false && privileged === true) e.invalid(path, sc, 'cannot set `allowPrivilegeEscalation` to false and `privileged` to true');
  if (ape === false && addsSysAdmin) e.invalid(path, sc, 'cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN');
}

/** spec.hostAliases and spec.imagePullSecrets. */
export function validateHostAliasesAndPullSecrets(e: FieldErrors, spec: Obj): void {
  for (const [a, p] of objItems(e, spec, 'hostAliases', 'spec.hostAliases')) {
    if (a.ip === undefined || a.ip === null || a.ip === '') e.required(`${p}.ip`);
    else ip(e, a, 'ip', `${p}.ip`);
    (stringArray(e, a, 'hostnames', `${p}.hostnames`) ?? []).forEach((h, i) => e.rule(`${p}.hostnames[${i}]`, h, dns1123SubdomainErrors(h)));
  }
  for (const [s, p] of objItems(e, spec, 'imagePullSecrets', 'spec.imagePullSecrets')) {
    const name = str(e, s, 'name', `${p}.name`);
    if (name) e.rule(`${p}.name`, name, dns1123SubdomainErrors(name));
  }
}

/** Everything of this file for one pod spec (called from validatePodSpec). */
export function validatePodSecurity(e: FieldErrors, spec: Obj): void {
  validatePodSecurityContext(e, spec);
  for (const key of ['initContainers', 'containers'] as const) {
    if (!Array.isArray(spec[key])) continue;
    for (const [c, p] of objItems(new FieldErrors(), spec, key, `spec.${key}`)) validateContainerSecurityContext(e, c, p);
  }
  validateHostAliasesAndPullSecrets(e, spec);
}

// ---------------------------------------------------------------------------

/** What one container runs with: the container's securityContext over the pod's. */
export interface EffectiveSecurity {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot: boolean;
  fsGroup?: number;
  supplementalGroups: number[];
  readOnlyRootFilesystem: boolean;
  capabilities: Capabilities;
  /** Kubernetes' default when unset is true (no no_new_privs). */
  allowPrivilegeEscalation: boolean;
  privileged: boolean;
  seccomp: 'RuntimeDefault' | 'Unconfined';
}

export function effectiveSecurity(pod: PodSecurityContext | undefined, c: SecurityContext | undefined): EffectiveSecurity {
  const p = pod ?? {};
  const s = c ?? {};
  const runAsUser = s.runAsUser ?? p.runAsUser;
  const runAsGroup = s.runAsGroup ?? p.runAsGroup;
  const seccomp = (s.seccompProfile ?? p.seccompProfile)?.type === 'RuntimeDefault' ? 'RuntimeDefault' : 'Unconfined';
  return {
    ...(runAsUser !== undefined ? { runAsUser } : {}),
    ...(runAsGroup !== undefined ? { runAsGroup } : {}),
    runAsNonRoot: (s.runAsNonRoot ?? p.runAsNonRoot) === true,
    ...(p.fsGroup !== undefined ? { fsGroup: p.fsGroup } : {}),
    supplementalGroups: [...(p.supplementalGroups ?? [])],
    readOnlyRootFilesystem: s.readOnlyRootFilesystem === true,
    capabilities: { add: [...(s.capabilities?.add ?? [])], drop: [...(s.capabilities?.drop ?? [])] },
    allowPrivilegeEscalation: s.allowPrivilegeEscalation !== false,
    privileged: s.privileged === true,
    seccomp,
  };
}
