// The controller's state directory, written by `flotilla-controller init` and
// read by `run`:
//   pki/ca.crt  pki/ca.key             cluster CA (key 0600)
//   pki/apiserver.crt pki/apiserver.key serving certificate (key 0600)
//   admin.token                         the admin bearer token (0600)
//   admin.kubeconfig                    kubeconfig for the admin (0600)
//   cluster.json                        advertise addresses, API/agent ports, network config
//   bootstrap-token.json                the first join token (0600), put into etcd by `run`
//   encryption-keys.json                keys Secrets are encrypted with in etcd (0600; encryption-keys.ts)
//   pki/etcd/… pki/apiserver-etcd-client.* the managed etcd's own CA and certs (etcd-pki.ts)
import { DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, parseServicesConfig } from '../services/config.js';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { AlreadyExistsError, BadRequestError, NotFoundError } from '../../api/index.js';
import { caPinOf } from '../../api/ca-pin.js';
import { validateNetworkConfig, type NetworkConfig } from '../../netplugin/index.js';
import { generateToken } from '../join/bootstrap-token.js';
import { generateCa, issueServingCert, type CertAndKey } from './certs.js';
import { createEncryptionKeyFile } from './encryption-keys.js';
import { ensureEtcdPki } from './etcd-pki.js';
import { generateAdminToken } from './tokens.js';

export const DEFAULT_API_PORT = 6443;
/** Agents join here (TLS, bootstrap token). */
export const DEFAULT_BOOTSTRAP_PORT = 6444;
/** Agents talk to the node service here (mutual TLS, node certificate). */
export const DEFAULT_NODE_PORT = 6445;
/** Lifetime of the token init creates, as kubeadm's default. */
export const DEFAULT_TOKEN_TTL_MS = 24 * 3_600_000;

export interface ClusterConfig {
  /** Addresses agents and users reach the API at; the first one goes into the kubeconfig. */
  advertiseAddresses: string[];
  apiPort: number;
  /** Default 6444 (state dirs written before agents joined lack it). */
  bootstrapPort?: number;
  /** Default 6445. */
  nodePort?: number;
  network: NetworkConfig;
  /** Where ClusterIPs come from; default 10.96.0.0/16 (state dirs written before Services lack it). */
  serviceCIDR?: string;
  /** NodePorts; default 30000-32767. */
  serviceNodePortRange?: string;
}

/** The join token init made; `run` stores it (hashed) in etcd. */
export interface InitialToken {
  token: string;
  /** RFC 3339; absent = never expires. */
  expires?: string;
  /** Set once `run` stored it: a token deleted later is not stored again. */
  seeded?: boolean;
}

export function markInitialTokenSeeded(stateDir: string): void {
  const f = statePaths(stateDir).bootstrapToken;
  const t = JSON.parse(readFileSync(f, 'utf8')) as InitialToken;
  writeFile(f, `${JSON.stringify({ ...t, seeded: true })}\n`, 0o600);
}

export interface InitOptions {
  stateDir: string;
  advertiseAddresses?: string[];
  apiPort?: number;
  bootstrapPort?: number;
  nodePort?: number;
  /** TTL of the first bootstrap token; 0 = never expires. Default 24 h. */
  tokenTtlMs?: number;
  network?: Partial<Omit<NetworkConfig, 'backend'>> & { vni?: number; vxlanPort?: number };
  /** Default 10.96.0.0/16; must not overlap the pod network. */
  serviceCIDR?: string;
  /** Default 30000-32767. */
  serviceNodePortRange?: string;
  /** Replace an existing CA (and everything signed by it). */
  force?: boolean;
  nowMs?: number;
}

export interface InitResult {
  stateDir: string;
  caFile: string;
  certFile: string;
  kubeconfigFile: string;
  tokenFile: string;
  /** The encryption key file (kept as it was when it existed, also with --force). */
  encryptionKeysFile: string;
  /** The managed etcd's CA and the controller's client cert for it (kept when they existed, also with --force). */
  etcdCaFile: string;
  etcdClientCertFile: string;
  server: string;
  config: ClusterConfig;
  /** `flotilla-agent join …` with the first token and the CA pin. */
  joinCommand: string;
  bootstrapToken: InitialToken;
  written: string[];
}

export interface ControllerState {
  stateDir: string;
  ca: CertAndKey;
  serving: CertAndKey;
  adminToken: string;
  config: ClusterConfig;
  kubeconfigFile: string;
  caFile: string;
  /** The token init made, when its file is still there. */
  initialToken?: InitialToken;
}

export function statePaths(stateDir: string) {
  return {
    pki: join(stateDir, 'pki'),
    caCert: join(stateDir, 'pki', 'ca.crt'),
    caKey: join(stateDir, 'pki', 'ca.key'),
    servingCert: join(stateDir, 'pki', 'apiserver.crt'),
    servingKey: join(stateDir, 'pki', 'apiserver.key'),
    token: join(stateDir, 'admin.token'),
    kubeconfig: join(stateDir, 'admin.kubeconfig'),
    cluster: join(stateDir, 'cluster.json'),
    bootstrapToken: join(stateDir, 'bootstrap-token.json'),
    encryptionKeys: join(stateDir, 'encryption-keys.json'),
  };
}

function writeFile(path: string, data: string, mode: number): void {
  writeFileSync(path, data, { mode });
  chmodSync(path, mode); // an existing file keeps its old mode otherwise
}

function hostPort(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** The command an agent host runs to join: what init and `flotctl token create --print-join-command` print. */
export function joinCommandFor(o: { address: string; bootstrapPort: number; token: string; caPem: string }): string {
  return `flotilla-agent join --server ${hostPort(o.address, o.bootstrapPort)} --token ${o.token} --ca-hash ${caPinOf(o.caPem)}`;
}

export function bootstrapPortOf(c: ClusterConfig): number {
  return c.bootstrapPort ?? DEFAULT_BOOTSTRAP_PORT;
}

export function nodePortOf(c: ClusterConfig): number {
  return c.nodePort ?? DEFAULT_NODE_PORT;
}

/** A kubeconfig (clientcmd v1 format) for a bearer-token user. */
export function renderKubeconfig(o: { server: string; caPem: string; token: string; cluster?: string; user?: string }): string {
  const cluster = o.cluster ?? 'flotilla';
  const user = o.user ?? 'admin';
  const context = `${user}@${cluster}`;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [{ name: cluster, cluster: { server: o.server, 'certificate-authority-data': Buffer.from(o.caPem).toString('base64') } }],
    users: [{ name: user, user: { token: o.token } }],
    contexts: [{ name: context, context: { cluster, user, namespace: 'default' } }],
    'current-context': context,
  };
  return stringifyYaml(doc);
}

/**
 * Creates the state directory's CA, serving certificate, admin token,
 * kubeconfig and cluster config. Refuses to replace an existing CA unless
 * `force`. Returns what it wrote.
 */
export function initStateDir(o: InitOptions): InitResult {
  const p = statePaths(o.stateDir);
  if (existsSync(p.caCert) && !o.force) {
    throw new AlreadyExistsError(`a cluster CA already exists in ${p.pki}: pass --force to replace it (agents that joined must then join again)`);
  }
  const now = o.nowMs ?? Date.now();
  const advertise = o.advertiseAddresses && o.advertiseAddresses.length > 0 ? o.advertiseAddresses : ['127.0.0.1'];
  const apiPort = o.apiPort ?? DEFAULT_API_PORT;
  const network: NetworkConfig = {
    network: o.network?.network ?? '10.244.0.0/16',
    subnetLen: o.network?.subnetLen ?? 24,
    backend: { type: 'vxlan', vni: o.network?.vni ?? 1, port: o.network?.vxlanPort ?? 8472 },
  };
  const bootstrapPort = o.bootstrapPort ?? DEFAULT_BOOTSTRAP_PORT;
  const nodePort = o.nodePort ?? DEFAULT_NODE_PORT;
  for (const [what, port] of [['API', apiPort], ['bootstrap', bootstrapPort], ['node', nodePort]] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new BadRequestError(`invalid ${what} port ${port}`);
  }
  if (new Set([apiPort, bootstrapPort, nodePort]).size !== 3) {
    throw new BadRequestError(`the API (${apiPort}), bootstrap (${bootstrapPort}) and node (${nodePort}) ports must differ`);
  }
  validateNetworkConfig(network);
  for (const a of advertise) {
    if (!isIP(a) && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i.test(a)) {
      throw new BadRequestError(`invalid advertise address "${a}": expected an IP address or a DNS name`);
    }
  }
  const serviceCIDR = o.serviceCIDR ?? DEFAULT_SERVICE_CIDR;
  const serviceNodePortRange = o.serviceNodePortRange ?? DEFAULT_NODE_PORT_RANGE;
  parseServicesConfig({ serviceCIDR, nodePortRange: serviceNodePortRange }, network.network);
  const config: ClusterConfig = { advertiseAddresses: advertise, apiPort, bootstrapPort, nodePort, network, serviceCIDR, serviceNodePortRange };

  mkdirSync(p.pki, { recursive: true, mode: 0o700 });
  const ca = generateCa({ nowMs: now });
  const hosts = ['127.0.0.1', '::1', 'localhost', hostname(), ...advertise];
  const serving = issueServingCert(ca, { hosts, nowMs: now });
  const token = generateAdminToken();
  const server = `https://${hostPort(advertise[0]!, apiPort)}`;
  const ttl = o.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS;
  const bootstrapToken: InitialToken = { token: generateToken(), ...(ttl > 0 ? { expires: new Date(now + ttl).toISOString() } : {}) };

  writeFile(p.caKey, ca.keyPem, 0o600);
  writeFile(p.caCert, ca.certPem, 0o644);
  writeFile(p.servingKey, serving.keyPem, 0o600);
  writeFile(p.servingCert, serving.certPem, 0o644);
  writeFile(p.token, `${token}\n`, 0o600);
  writeFile(p.kubeconfig, renderKubeconfig({ server, caPem: ca.certPem, token }), 0o600);
  writeFile(p.cluster, `${JSON.stringify(config, null, 2)}\n`, 0o644);
  writeFile(p.bootstrapToken, `${JSON.stringify(bootstrapToken)}\n`, 0o600);
  // Never replaced: Secrets in etcd stay readable after `init --force`.
  const keysWritten = createEncryptionKeyFile(p.encryptionKeys, now);
  // Made here so that the first `run` need not; a state dir from before gets it at its next run.
  const etcdPki = ensureEtcdPki(o.stateDir, { nowMs: now });
  return {
    stateDir: o.stateDir,
    caFile: p.caCert,
    certFile: p.servingCert,
    kubeconfigFile: p.kubeconfig,
    tokenFile: p.token,
    encryptionKeysFile: p.encryptionKeys,
    etcdCaFile: etcdPki.paths.caCert,
    etcdClientCertFile: etcdPki.paths.clientCert,
    server,
    config,
    joinCommand: joinCommandFor({ address: advertise[0]!, bootstrapPort, token: bootstrapToken.token, caPem: ca.certPem }),
    bootstrapToken,
    written: [p.caCert, p.caKey, p.servingCert, p.servingKey, p.token, p.kubeconfig, p.cluster, p.bootstrapToken, ...(keysWritten ? [p.encryptionKeys] : []), ...etcdPki.written],
  };
}

/** Reads what `init` wrote; NotFoundError naming the missing file and the fix. */
export function loadStateDir(stateDir: string): ControllerState {
  const p = statePaths(stateDir);
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      throw new NotFoundError(`${f} is missing: run "flotilla-controller init --state-dir ${stateDir}" first`);
    }
  };
  return {
    stateDir,
    ca: { certPem: read(p.caCert), keyPem: read(p.caKey) },
    serving: { certPem: read(p.servingCert), keyPem: read(p.servingKey) },
    adminToken: read(p.token).trim(),
    config: JSON.parse(read(p.cluster)) as ClusterConfig,
    kubeconfigFile: p.kubeconfig,
    caFile: p.caCert,
    ...(existsSync(p.bootstrapToken) ? { initialToken: JSON.parse(read(p.bootstrapToken)) as InitialToken } : {}),
  };
}
