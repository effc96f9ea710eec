// A pod's imagePullSecrets as registry credentials: Secrets of type
// kubernetes.io/dockerconfigjson (`.dockerconfigjson`: `{"auths": {...}}`) or
// kubernetes.io/dockercfg (`.dockercfg`: the `auths` map itself), each entry
// keyed by registry (a host, host:port, or a URL such as
// `https://index.docker.io/v1/`) with `auth` (base64 of `user:pass`) or
// `username`/`password`. Pure: the agent reads the Secrets (config/), the
// puller asks the lookup for the host it pulls from.
import type { Secret } from '../../api/index.js';
import type { RegistryCredentials } from './registry-client.js';

export interface PullSecretProblem {
  secret: string;
  message: string;
}

/** The registry host an `auths` key names: scheme and path dropped, Docker Hub's aliases made `docker.io`. */
export function registryKeyHost(key: string): string {
  let k = key.trim().toLowerCase();
  k = k.replace(/^[a-z]+:\/\//, '');
  k = k.split('/')[0] ?? '';
  if (k === 'index.docker.io' || k === 'registry-1.docker.io' || k === 'registry.hub.docker.com') return 'docker.io';
  return k;
}

function entryCredentials(e: unknown): RegistryCredentials | undefined {
  if (!e || typeof e !== 'object') return undefined;
  const o = e as { auth?: unknown; username?: unknown; password?: unknown };
  if (typeof o.username === 'string' && o.username !== '' && typeof o.password === 'string') return { username: o.username, password: o.password };
  if (typeof o.auth === 'string' && o.auth !== '') {
    const dec = Buffer.from(o.auth, 'base64').toString('utf8');
    const i = dec.indexOf(':');
    if (i > 0) return { username: dec.slice(0, i), password: dec.slice(i + 1) };
  }
  return undefined;
}

function decode(secret: Secret, key: string): string | undefined {
  const d = secret.data?.[key];
  if (typeof d === 'string') return Buffer.from(d, 'base64').toString('utf8');
  const s = (secret as { stringData?: Record<string, string> }).stringData?.[key];
  return typeof s === 'string' ? s : undefined;
}

/** host → credentials of one Secret; a Secret of another type or with bad JSON is a problem, not an exception. */
export function secretAuths(secret: Secret): { auths: Map<string, RegistryCredentials> } | { problem: string } {
  const name = secret.metadata?.name ?? '';
  const type = (secret as { type?: string }).type ?? 'Opaque';
  const key = type === 'kubernetes.io/dockerconfigjson' ? '.dockerconfigjson' : type === 'kubernetes.io/dockercfg' ? '.dockercfg' : undefined;
  if (!key) return { problem: `secret "${name}" is of type ${type}, not kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg` };
  const text = decode(secret, key);
  if (text === undefined) return { problem: `secret "${name}" has no ${key} key` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { problem: `secret "${name}": ${key} is not JSON: ${(e as Error).message}` };
  }
  const map = key === '.dockerconfigjson' ? (parsed as { auths?: unknown })?.auths : parsed;
  const auths = new Map<string, RegistryCredentials>();
  if (map && typeof map === 'object') {
    for (const [k, v] of Object.entries(map as Record<string, unknown>)) {
      const c = entryCredentials(v);
      if (c && !auths.has(registryKeyHost(k))) auths.set(registryKeyHost(k), c);
    }
  }
  return { auths };
}

/**
 * The credentials lookup of a pod from its pull Secrets (in imagePullSecrets
 * order: the first Secret naming a registry wins, as the kubelet tries them in order).
 */
export function pullCredentials(secrets: readonly Secret[]): { lookup: (registry: string) => RegistryCredentials | undefined; problems: PullSecretProblem[] } {
  const all = new Map<string, RegistryCredentials>();
  const problems: PullSecretProblem[] = [];
  for (const s of secrets) {
    const r = secretAuths(s);
    if ('problem' in r) {
      problems.push({ secret: s.metadata?.name ?? '', message: r.problem });
      continue;
    }
    for (const [h, c] of r.auths) if (!all.has(h)) all.set(h, c);
  }
  return { lookup: (registry) => all.get(registryKeyHost(registry)), problems };
}
