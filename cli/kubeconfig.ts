// Kubeconfig loading: the real kubeconfig format (clusters, users, contexts,
// current-context), found through --kubeconfig, $KUBECONFIG (a path list, merged
// first-wins like kubectl) or ~/.flotilla/config, then narrowed to the one
// connection the command uses. Flag overrides (--server, --token, …) win last.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CliError } from './errors.js';

interface NamedCluster {
  name: string;
  cluster: {
    server?: string;
    'certificate-authority'?: string;
    'certificate-authority-data'?: string;
    'insecure-skip-tls-verify'?: boolean;
    'tls-server-name'?: string;
  };
}

interface NamedUser {
  name: string;
  user: {
    token?: string;
    tokenFile?: string;
    'client-certificate'?: string;
    'client-certificate-data'?: string;
    'client-key'?: string;
    'client-key-data'?: string;
    username?: string;
    password?: string;
  };
}

interface NamedContext {
  name: string;
  context: { cluster?: string; user?: string; namespace?: string };
}

export interface KubeconfigFile {
  clusters: NamedCluster[];
  users: NamedUser[];
  contexts: NamedContext[];
  'current-context'?: string;
}

/** Everything needed to talk to one API server. */
export interface ConnectionConfig {
  server: string;
  /** PEM bundle of trusted CAs; undefined means the system roots. */
  ca?: string;
  cert?: string;
  key?: string;
  token?: string;
  username?: string;
  password?: string;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  /** The context's namespace, or `default`. */
  namespace: string;
}

/** Flags that select or override parts of the kubeconfig. */
export interface ConnectionFlags {
  kubeconfig?: string;
  context?: string;
  cluster?: string;
  user?: string;
  server?: string;
  token?: string;
  certificateAuthority?: string;
  insecureSkipTlsVerify?: boolean;
  namespace?: string;
}

export function defaultKubeconfigPaths(env: NodeJS.ProcessEnv = process.env, home = homedir()): string[] {
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter((p) => p !== '');
  if (fromEnv.length > 0) return fromEnv;
  return [join(home, '.flotilla', 'config')];
}

/** Parses one kubeconfig text; relative file paths are made absolute against `baseDir`. */
export function parseKubeconfig(text: string, source: string, baseDir: string): KubeconfigFile {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new CliError(`error loading config file "${source}": ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new CliError(`error loading config file "${source}": not a kubeconfig mapping`);
  }
  const raw = doc as Record<string, unknown>;
  const list = <T>(key: string): T[] => {
    const v = raw[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new CliError(`error loading config file "${source}": ${key} must be a list`);
    return v as T[];
  };
  const abs = (p: string | undefined) => (p === undefined || p === '' || isAbsolute(p) ? p : resolve(baseDir, p));
  const clusters = list<NamedCluster>('clusters').map((c) => ({
    name: String(c.name),
    cluster: { ...c.cluster, 'certificate-authority': abs(c.cluster?.['certificate-authority']) },
  }));
  const users = list<NamedUser>('users').map((u) => ({
    name: String(u.name),
    user: {
      ...u.user,
      tokenFile: abs(u.user?.tokenFile),
      'client-certificate': abs(u.user?.['client-certificate']),
      'client-key': abs(u.user?.['client-key']),
    },
  }));
  const contexts = list<NamedContext>('contexts').map((c) => ({ name: String(c.name), context: { ...c.context } }));
  const current = raw['current-context'];
  return {
    clusters,
    users,
    contexts,
    ...(typeof current === 'string' && current !== '' ? { 'current-context': current } : {}),
  };
}

/** Merges several kubeconfigs as kubectl does: the first file to define a name or current-context wins. */
export function mergeKubeconfigs(files: KubeconfigFile[]): KubeconfigFile {
  const out: KubeconfigFile = { clusters: [], users: [], contexts: [] };
  const addUnique = <T extends { name: string }>(into: T[], items: T[]) => {
    for (const item of items) if (!into.some((x) => x.name === item.name)) into.push(item);
  };
  for (const f of files) {
    addUnique(out.clusters, f.clusters);
    addUnique(out.users, f.users);
    addUnique(out.contexts, f.contexts);
    if (out['current-context'] === undefined && f['current-context'] !== undefined) {
      out['current-context'] = f['current-context'];
    }
  }
  return out;
}

/** Reads the kubeconfig files the flags and environment point at. Missing files are skipped unless named by --kubeconfig. */
export function loadKubeconfig(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): KubeconfigFile {
  const explicit = flags.kubeconfig !== undefined && flags.kubeconfig !== '';
  const paths = explicit ? [flags.kubeconfig as string] : defaultKubeconfigPaths(env);
  const files: KubeconfigFile[] = [];
  for (const p of paths) {
    let text: string;
    try {
      text = readFileSync(p, 'utf8');
    } catch (e) {
      if (explicit || (e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new CliError(`error loading config file "${p}": ${describeFsError(e)}`);
      }
      continue;
    }
    files.push(parseKubeconfig(text, p, dirname(resolve(p))));
  }
  return mergeKubeconfigs(files);
}

function describeFsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return 'no such file or directory';
  if (err.code === 'EACCES') return 'permission denied';
  return err.message;
}

function readFileOrFail(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError(`unable to read ${what} "${path}": ${describeFsError(e)}`);
  }
}

function b64(data: string): string {
  return Buffer.from(data, 'base64').toString('utf8');
}

/** Narrows a kubeconfig to one connection, applying the flag overrides. */
export function resolveConnection(config: KubeconfigFile, flags: ConnectionFlags): ConnectionConfig {
  const contextName = flags.context ?? config['current-context'];
  let context: NamedContext['context'] = {};
  if (contextName !== undefined) {
    const found = config.contexts.find((c) => c.name === contextName);
    if (found) context = found.context;
    else if (flags.context !== undefined) throw new CliError(`context was not found for specified context: ${contextName}`);
  }
  const clusterName = flags.cluster ?? context.cluster;
  const userName = flags.user ?? context.user;
  const cluster = config.clusters.find((c) => c.name === clusterName)?.cluster ?? {};
  if (flags.cluster !== undefined && !config.clusters.some((c) => c.name === flags.cluster)) {
    throw new CliError(`cluster "${flags.cluster}" was not found in the kubeconfig`);
  }
  const user = config.users.find((u) => u.name === userName)?.user ?? {};

  const server = flags.server ?? cluster.server;
  if (server === undefined || server === '') {
    throw new CliError(
      'no server found: set $KUBECONFIG or --kubeconfig to a kubeconfig file (flotilla-controller init writes admin.kubeconfig), ' +
        'create ~/.flotilla/config, or pass --server',
    );
  }
  const conn: ConnectionConfig = {
    server: server.replace(/\/+$/, ''),
    insecureSkipTlsVerify: flags.insecureSkipTlsVerify ?? cluster['insecure-skip-tls-verify'] === true,
    namespace: flags.namespace ?? (context.namespace || 'default'),
  };
  if (flags.certificateAuthority !== undefined) {
    conn.ca = readFileOrFail(flags.certificateAuthority, 'certificate authority');
  } else if (cluster['certificate-authority-data']) {
    conn.ca = b64(cluster['certificate-authority-data']);
  } else if (cluster['certificate-authority']) {
    conn.ca = readFileOrFail(cluster['certificate-authority'], 'certificate authority');
  }
  if (cluster['tls-server-name']) conn.tlsServerName = cluster['tls-server-name'];

  if (flags.token !== undefined) {
    conn.token = flags.token;
  } else {
    if (user.token) conn.token = user.token;
    else if (user.tokenFile) conn.token = readFileOrFail(user.tokenFile, 'token file').trim();
    if (user['client-certificate-data']) conn.cert = b64(user['client-certificate-data']);
    else if (user['client-certificate']) conn.cert = readFileOrFail(user['client-certificate'], 'client certificate');
    if (user['client-key-data']) conn.key = b64(user['client-key-data']);
    else if (user['client-key']) conn.key = readFileOrFail(user['client-key'], 'client key');
    if (user.username !== undefined) conn.username = user.username;
    if (user.password !== undefined) conn.password = user.password;
  }
  return conn;
}
