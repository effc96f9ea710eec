// Endpoints (core/v1): the legacy list of a Service's backends, mirrored from
// its EndpointSlices by the endpoints controller for clients that predate
// discovery.k8s.io (kubectl describe svc, old ingress controllers). Validation
// wording and the printer are kube-apiserver's. The address rules shared with
// EndpointSlices (an endpoint IP may not be loopback, link-local, …) live here.
import { BlockList, isIP } from 'node:net';
import type { KubeObject } from '../meta.js';
import type { ObjectReference, Protocol } from '../types.js';
import { isPlainObject } from '../helpers.js';
import { ANY, column, defineKind } from '../kind.js';
import { age } from '../printers/age.js';
import { dns1123LabelErrors, dns1123SubdomainErrors, qualifiedNameErrors } from '../validation-rules.js';
import { FieldErrors, int, objItems, str } from '../validation-core.js';
import { FALLBACK } from './common.js';

type Obj = Record<string, unknown>;

export interface EndpointAddress {
  ip: string;
  hostname?: string;
  nodeName?: string;
  targetRef?: ObjectReference;
}

export interface EndpointPort {
  name?: string;
  port: number;
  protocol?: Protocol;
  appProtocol?: string;
}

export interface EndpointSubset {
  addresses?: EndpointAddress[];
  notReadyAddresses?: EndpointAddress[];
  ports?: EndpointPort[];
}

export interface Endpoints extends KubeObject {
  apiVersion?: 'v1';
  kind?: 'Endpoints';
  subsets?: EndpointSubset[];
}

/** The protocols of a Service, Endpoints or EndpointSlice port. */
export const PORT_PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** kube-apiserver's IsValidIP wording. */
export const INVALID_IP_MESSAGE = 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)';

/** kube-apiserver's IsValidPortNum wording. */
export const PORT_RANGE_MESSAGE = 'must be between 1 and 65535, inclusive';

// Ranges an endpoint may not point into (kube-apiserver's ValidateEndpointIP):
// nothing listens for a Service there, and link-local is the node's own
// business (metadata services). IPv4-mapped IPv6 addresses hit the IPv4 rules.
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
const LINK_LOCAL = new BlockList();
LINK_LOCAL.addSubnet('169.254.0.0', 16, 'ipv4');
LINK_LOCAL.addSubnet('fe80::', 10, 'ipv6');
const LINK_LOCAL_MULTICAST = new BlockList();
LINK_LOCAL_MULTICAST.addSubnet('224.0.0.0', 24, 'ipv4');
LINK_LOCAL_MULTICAST.addSubnet('ff02::', 16, 'ipv6');
const UNSPECIFIED = new BlockList();
UNSPECIFIED.addAddress('0.0.0.0', 'ipv4');
UNSPECIFIED.addAddress('::', 'ipv6');

/** What is wrong with `ip` as an endpoint's address, in kube-apiserver's words (`ip` is a valid IP). */
export function endpointIPErrors(ip: string): string[] {
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  const errs: string[] = [];
  if (UNSPECIFIED.check(ip, family)) errs.push(`may not be unspecified (${ip})`);
  if (LOOPBACK.check(ip, family)) errs.push('may not be in the loopback range (127.0.0.0/8, ::1/128)');
  if (LINK_LOCAL.check(ip, family)) errs.push('may not be in the link-local range (169.254.0.0/16, fe80::/10)');
  if (LINK_LOCAL_MULTICAST.check(ip, family)) errs.push('may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)');
  return errs;
}

/** A port protocol: required (defaulting fills TCP), one of TCP, UDP, SCTP. */
export function validateProtocol(e: FieldErrors, o: Obj, path: string): void {
  const v = str(e, o, 'protocol', path);
  if (v === undefined || v === '') e.required(path);
  else if (!(PORT_PROTOCOLS as readonly string[]).includes(v)) e.notSupported(path, v, PORT_PROTOCOLS);
}

/** An appProtocol: a qualified name (`http`, `kubernetes.io/h2c`). */
export function validateAppProtocol(e: FieldErrors, o: Obj, path: string): void {
  const v = str(e, o, 'appProtocol', path);
  if (v !== undefined) e.rule(path, v, qualifiedNameErrors(v));
}

/** The protocol of every port of a subset defaults to TCP (SetDefaults_EndpointPort). */
function defaultEndpoints(o: Obj): void {
  if (!Array.isArray(o.subsets)) return;
  for (const ss of o.subsets) {
    if (!isPlainObject(ss) || !Array.isArray(ss.ports)) continue;
    for (const p of ss.ports) if (isPlainObject(p) && (p.protocol === undefined || p.protocol === null || p.protocol === '')) p.protocol = 'TCP';
  }
}

/** A port number at `o[key]` in `min`..65535 (absent counts as 0, as in kube-apiserver's int32 fields). */
export function validatePortNumber(e: FieldErrors, o: Obj, key: string, path: string, min = 1): number | undefined {
  const n = int(e, o, key, path);
  const absent = o[key] === undefined || o[key] === null;
  if (!absent && n === undefined) return undefined;
  const v = n ?? 0;
  if (v < min || v > 65535) {
    e.invalid(path, v, min === 1 ? PORT_RANGE_MESSAGE : `must be between ${min} and 65535, inclusive`);
    return undefined;
  }
  return v;
}

/** An endpoint's IP: valid, and not loopback, link-local or unspecified. */
export function validateEndpointIP(e: FieldErrors, ip: string, path: string): void {
  // kube-apiserver reports an unparsable IP twice (IsValidIP, then ValidateEndpointIP); once is enough
  if (isIP(ip) === 0) e.invalid(path, ip, INVALID_IP_MESSAGE);
  else e.rule(path, ip, endpointIPErrors(ip));
}

function validateAddress(e: FieldErrors, a: Obj, p: string): void {
  const ip = str(e, a, 'ip', `${p}.ip`);
  if (ip !== undefined || a.ip === undefined || a.ip === null) validateEndpointIP(e, ip ?? '', `${p}.ip`);
  const hostname = str(e, a, 'hostname', `${p}.hostname`);
  if (hostname) e.rule(`${p}.hostname`, hostname, dns1123LabelErrors(hostname));
  const nodeName = str(e, a, 'nodeName', `${p}.nodeName`);
  if (nodeName !== undefined) e.rule(`${p}.nodeName`, nodeName, dns1123SubdomainErrors(nodeName));
  if (a.targetRef !== undefined && a.targetRef !== null && !isPlainObject(a.targetRef)) e.wrongType(`${p}.targetRef`, a.targetRef, 'an object');
}

function validatePort(e: FieldErrors, port: Obj, p: string, requireName: boolean): void {
  const name = str(e, port, 'name', `${p}.name`);
  if (requireName && !name) e.required(`${p}.name`);
  else if (name) e.rule(`${p}.name`, name, dns1123LabelErrors(name));
  validatePortNumber(e, port, 'port', `${p}.port`);
  validateProtocol(e, port, `${p}.protocol`);
  validateAppProtocol(e, port, `${p}.appProtocol`);
}

function validateEndpoints(e: FieldErrors, o: Obj): void {
  for (const [ss, p] of objItems(e, o, 'subsets', 'subsets')) {
    const ready = objItems(e, ss, 'addresses', `${p}.addresses`);
    const notReady = objItems(e, ss, 'notReadyAddresses', `${p}.notReadyAddresses`);
    // a subset of a headless Service may have no ports, but it must have an address
    if (ready.length === 0 && notReady.length === 0) e.required(p, 'must specify `addresses` or `notReadyAddresses`');
    for (const [a, ap] of [...ready, ...notReady]) validateAddress(e, a, ap);
    const ports = objItems(e, ss, 'ports', `${p}.ports`);
    for (const [port, pp] of ports) validatePort(e, port, pp, ports.length > 1);
  }
}

const MAX_SHOWN = 3;

/**
 * kubectl's ENDPOINTS cell: ready `ip:port` pairs (bare IPs for a subset
 * without ports), the first three, then ` + N more...`; `<none>` without subsets.
 */
export function formatEndpoints(ep: Endpoints): string {
  const subsets = Array.isArray(ep.subsets) ? ep.subsets : [];
  if (subsets.length === 0) return '<none>';
  const list: string[] = [];
  let count = 0;
  for (const ss of subsets) {
    const addrs = Array.isArray(ss.addresses) ? ss.addresses : [];
    const ports = Array.isArray(ss.ports) && ss.ports.length > 0 ? ss.ports : [undefined];
    for (const port of ports) {
      count += addrs.length;
      for (const a of addrs) {
        if (list.length === MAX_SHOWN) break;
        list.push(port === undefined ? a.ip : joinHostPort(a.ip, port.port));
      }
    }
  }
  const shown = list.join(',');
  return count > MAX_SHOWN ? `${shown} + ${count - MAX_SHOWN} more...` : shown;
}

/** `ip:port`, with an IPv6 address in brackets (Go's net.JoinHostPort). */
function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

const ADDRESS_SCHEMA = { ip: ANY, hostname: ANY, nodeName: ANY, targetRef: ANY };

export const endpointsKind = defineKind(
  {
    group: '',
    version: 'v1',
    kind: 'Endpoints',
    listKind: 'EndpointsList',
    plural: 'endpoints',
    singular: 'endpoints',
    shortNames: ['ep'],
    namespaced: true,
    defaults: defaultEndpoints,
    validate: (e, o) => validateEndpoints(e, o),
    schema: {
      subsets: [{ addresses: [ADDRESS_SCHEMA], notReadyAddresses: [ADDRESS_SCHEMA], ports: [{ name: ANY, port: ANY, protocol: ANY, appProtocol: ANY }] }],
    },
    printer: {
      columns: [column('Name', { format: 'name' }), column('Endpoints'), column('Age')],
      cells: (o, now) => {
        const md = (o.metadata ?? {}) as Obj;
        return [md.name ?? '', formatEndpoints(o as unknown as Endpoints), age(md.creationTimestamp as string | undefined, now)];
      },
    },
  },
  FALLBACK,
);
