// flotilla-cni's logic: the CNI 1.0 protocol (CNI_* environment, network config
// on stdin, a result or an error object on stdout) around BridgePodNetwork.
// The binary (cni-main.ts) only does process I/O; everything here returns data,
// so the error mapping is one table in one place.
import { join } from 'node:path';
import { FlotillaError, silentLogger, type Logger } from '../../api/index.js';
import { parseCidr } from '../cidr.js';
import { RtnetlinkClient } from '../netlink/index.js';
import { BridgePodNetwork } from '../podnet/bridge.js';
import { PodNetworkCheckError } from '../podnet/errors.js';
import type { PodNetworkAttachment } from '../podnet/types.js';

export const CNI_VERSION = '1.0.0';
export const SUPPORTED_VERSIONS = [CNI_VERSION];
export const PLUGIN_TYPE = 'flotilla';

/** CNI's well-known error codes (spec §"Error"); 100 and up are ours. */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnv: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  PluginError: 100,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly details = '',
  ) {
    super(msg);
  }
}

export interface CniNetConf {
  cniVersion: string;
  name: string;
  type: string;
  /** Bridge name; default cni0. */
  bridge?: string;
  /** This node's pod subnet. */
  subnet: string;
  /** MTU of the pod interface (the VXLAN device's). */
  mtu: number;
  /** State dir: IPAM allocations live in <dataDir>/ipam/<name>. */
  dataDir: string;
}

export interface CniOutput {
  stdout: string;
  exitCode: number;
}

/** `K8S_POD_NAME=a;K8S_POD_NAMESPACE=b` → object. */
export function parseCniArgs(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (s ?? '').split(';')) {
    if (!part) continue;
    const i = part.indexOf('=');
    if (i <= 0) throw new CniError(CniCode.InvalidEnv, `CNI_ARGS entry "${part}" is not KEY=VALUE`);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

export function parseNetConf(stdin: string): CniNetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(CniCode.DecodeFailure, 'network config on stdin is not JSON', (e as Error).message);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CniError(CniCode.DecodeFailure, 'network config on stdin is not a JSON object');
  const c = raw as Record<string, unknown>;
  if (typeof c.cniVersion !== 'string' || !c.cniVersion) throw new CniError(CniCode.InvalidConfig, 'network config lacks cniVersion');
  if (!SUPPORTED_VERSIONS.includes(c.cniVersion)) {
    throw new CniError(CniCode.IncompatibleVersion, `CNI version ${c.cniVersion} is not supported (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
  }
  const problems: string[] = [];
  if (typeof c.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(c.name)) problems.push('name must be a non-empty name of letters, digits, _ . -');
  if (c.type !== PLUGIN_TYPE) problems.push(`type must be "${PLUGIN_TYPE}", got ${JSON.stringify(c.type)}`);
  if (c.bridge !== undefined && (typeof c.bridge !== 'string' || c.bridge.length < 1 || c.bridge.length > 15)) problems.push('bridge must be 1..15 characters');
  if (typeof c.subnet !== 'string') problems.push('subnet is required (a.b.c.d/len)');
  else {
    try {
      parseCidr(c.subnet, 'subnet');
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  if (typeof c.mtu !== 'number' || !Number.isInteger(c.mtu) || c.mtu < 576 || c.mtu > 65535) problems.push('mtu must be an integer 576..65535');
  if (typeof c.dataDir !== 'string' || !c.dataDir.startsWith('/')) problems.push('dataDir must be an absolute path');
  if (problems.length > 0) throw new CniError(CniCode.InvalidConfig, `invalid network config: ${problems.join('; ')}`);
  return c as unknown as CniNetConf;
}

function need(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new CniError(CniCode.InvalidEnv, `${name} is not set`);
  return v;
}

function attachmentOf(env: NodeJS.ProcessEnv, needNetns: boolean): PodNetworkAttachment {
  const containerId = need(env, 'CNI_CONTAINERID');
  const ifName = need(env, 'CNI_IFNAME');
  if (ifName.length > 15 || /[\s/]/.test(ifName)) throw new CniError(CniCode.InvalidEnv, `CNI_IFNAME "${ifName}" is not an interface name`);
  const netnsPath = needNetns ? need(env, 'CNI_NETNS') : (env.CNI_NETNS ?? '');
  const args = parseCniArgs(env.CNI_ARGS);
  return {
    containerId,
    netnsPath,
    ifName,
    podName: args.K8S_POD_NAME,
    podNamespace: args.K8S_POD_NAMESPACE,
    podUid: args.K8S_POD_UID,
  };
}

/** Our typed errors → CNI codes: the one place this mapping lives. */
export function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof PodNetworkCheckError && e.what === 'netns') return new CniError(CniCode.UnknownContainer, e.message);
  if (e instanceof FlotillaError) {
    if (e.retryable) return new CniError(CniCode.TryAgainLater, e.message, e.code);
    return new CniError(CniCode.PluginError, e.message, e.code);
  }
  return new CniError(CniCode.PluginError, e instanceof Error ? e.message : String(e));
}

function errorOutput(e: CniError): CniOutput {
  const obj: Record<string, unknown> = { cniVersion: CNI_VERSION, code: e.code, msg: e.msg };
  if (e.details) obj.details = e.details;
  return { stdout: `${JSON.stringify(obj)}\n`, exitCode: 1 };
}

/** Runs one CNI invocation; never throws. */
export async function runCni(env: NodeJS.ProcessEnv, stdin: string, log: Logger = silentLogger()): Promise<CniOutput> {
  const command = env.CNI_COMMAND;
  try {
    if (command === 'VERSION') {
      return { stdout: `${JSON.stringify({ cniVersion: CNI_VERSION, supportedVersions: SUPPORTED_VERSIONS })}\n`, exitCode: 0 };
    }
    if (command !== 'ADD' && command !== 'DEL' && command !== 'CHECK') {
      throw new CniError(CniCode.InvalidEnv, `CNI_COMMAND ${command ? `"${command}"` : '(unset)'} is not one of ADD, DEL, CHECK, VERSION`);
    }
    const conf = parseNetConf(stdin);
    const att = attachmentOf(env, command !== 'DEL');
    const net = new BridgePodNetwork({
      bridge: conf.bridge,
      subnet: conf.subnet,
      mtu: conf.mtu,
      ipamDir: join(conf.dataDir, 'ipam', conf.name),
      log,
    });
    try {
      if (command === 'DEL') {
        await net.del(att);
        return { stdout: '', exitCode: 0 };
      }
      if (command === 'CHECK') {
        await net.check(att);
        return { stdout: '', exitCode: 0 };
      }
      const res = await net.add(att);
      const host = await RtnetlinkClient.open();
      let hostMac: string | undefined;
      try {
        hostMac = (await host.linkGet(res.hostIfName)).address;
      } finally {
        host.close();
      }
      const result = {
        cniVersion: CNI_VERSION,
        interfaces: [
          { name: res.hostIfName, mac: hostMac },
          { name: res.ifName, mac: res.mac, mtu: res.mtu, sandbox: att.netnsPath },
        ],
        ips: [{ address: `${res.ip}/${res.prefixLen}`, gateway: res.gateway, interface: 1 }],
        routes: [{ dst: '0.0.0.0/0', gw: res.gateway }],
        dns: {},
      };
      return { stdout: `${JSON.stringify(result)}\n`, exitCode: 0 };
    } finally {
      await net.close();
    }
  } catch (e) {
    return errorOutput(toCniError(e));
  }
}
