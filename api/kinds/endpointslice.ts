// EndpointSlice (discovery.k8s.io/v1): a share (at most 100 endpoints as
// Flotilla's endpoints controller writes them; 1000 as the API allows) of a
// Service's backends, with their ready/serving/terminating conditions. The
// service proxy on every node and the cluster DNS read these. Validation
// wording and the printer are kube-apiserver's (pkg/apis/discovery/validation).
import { isIP } from 'node:net';
import type { KubeObject } from '../meta.js';
import type { ObjectReference, Protocol } from '../types.js';
import { isPlainObject } from '../helpers.js';
import { ANY, column, defineKind } from '../kind.js';
import { age } from '../printers/age.js';
import { dns1123LabelErrors, dns1123SubdomainErrors, labelValueErrors } from '../validation-rules.js';
import { FieldErrors, bool, objItems, str, stringArray, stringMap, validateLabels } from '../validation-core.js';
import { FALLBACK } from './common.js';
import { endpointIPErrors, validateAppProtocol, validatePortNumber, validateProtocol } from './endpoints.js';

type Obj = Record<string, unknown>;

/** The label naming the Service a slice belongs to. */
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
/** The label naming the controller that manages a slice. */
export const LABEL_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';

export type AddressType = 'IPv4' | 'IPv6' | 'FQDN';
export const ADDRESS_TYPES: readonly AddressType[] = ['IPv4', 'IPv6', 'FQDN'];

export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  hostname?: string;
  targetRef?: ObjectReference;
  nodeName?: string;
  zone?: string;
  hints?: { forZones?: { name: string }[] };
  deprecatedTopology?: Record<string, string>;
}

export interface EndpointSlicePort {
  /** "" for the one unnamed port of a Service. */
  name?: string;
  protocol?: Protocol;
  /** Absent: every port (a headless Service without ports). */
  port?: number;
  appProtocol?: string;
}

export interface EndpointSlice extends KubeObject {
  apiVersion?: 'discovery.k8s.io/v1';
  kind?: 'EndpointSlice';
  addressType: AddressType;
  endpoints: Endpoint[];
  ports?: EndpointSlicePort[];
}

// kube-apiserver's limits for one slice
export const MAX_SLICE_ENDPOINTS = 1000;
export const MAX_ENDPOINT_ADDRESSES = 100;
export const MAX_SLICE_PORTS = 20000;
const MAX_TOPOLOGY_LABELS = 16;
const MAX_ZONE_HINTS = 8;

/** `Too many: 1001: must have at most 1000 items`, as kube-apiserver's field.TooMany. */
export function tooMany(e: FieldErrors, path: string, n: number, max: number): void {
  e.causes.push({ field: path, reason: 'FieldValueTooMany', message: `Too many: ${n}: must have at most ${max} items` });
}

/** SetDefaults_EndpointPort: name "", protocol TCP. */
function defaultEndpointSlice(o: Obj): void {
  if (!Array.isArray(o.ports)) return;
  for (const p of o.ports) {
    if (!isPlainObject(p)) continue;
    if (p.name === undefined || p.name === null) p.name = '';
    if (p.protocol === undefined || p.protocol === null) p.protocol = 'TCP';
  }
}

/** IsFullyQualifiedDomainName: a DNS-1123 subdomain of at least two labels (a trailing dot allowed). */
function fqdnErrors(name: string): { value: string; errs: string[] } {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  const sub = dns1123SubdomainErrors(n);
  if (sub.length > 0) return { value: n, errs: [sub.join(',')] };
  const labels = n.split('.');
  if (labels.length < 2) return { value: n, errs: ['should be a domain with at least two segments separated by dots'] };
  for (const l of labels) {
    const le = dns1123LabelErrors(l);
    if (le.length > 0) return { value: l, errs: [le.join(',')] };
  }
  return { value: n, errs: [] };
}

function validateAddress(e: FieldErrors, type: string | undefined, address: string, path: string): void {
  if (type === 'IPv4' || type === 'IPv6') {
    const want = type === 'IPv4' ? 4 : 6;
    if (isIP(address) !== want) {
      e.invalid(path, address, `must be a valid ${type} address`);
      return;
    }
    e.rule(path, address, endpointIPErrors(address));
  } else if (type === 'FQDN') {
    if (address === '') {
      e.required(path);
      return;
    }
    const { value, errs } = fqdnErrors(address);
    e.rule(path, value, errs);
  }
  // an unknown address type is reported on addressType; its addresses are not checked
}

function validateEndpoint(e: FieldErrors, ep: Obj, p: string, type: string | undefined): void {
  const addressPath = `${p}.addresses`;
  const addresses = stringArray(e, ep, 'addresses', addressPath) ?? [];
  if (addresses.length === 0) e.required(addressPath, 'must contain at least 1 address');
  else if (addresses.length > MAX_ENDPOINT_ADDRESSES) tooMany(e, addressPath, addresses.length, MAX_ENDPOINT_ADDRESSES);
  addresses.forEach((a, i) => validateAddress(e, type, a, `${addressPath}[${i}]`));
  const cond = ep.conditions;
  if (cond !== undefined && cond !== null) {
    if (!isPlainObject(cond)) e.wrongType(`${p}.conditions`, cond, 'an object');
    else for (const k of ['ready', 'serving', 'terminating']) bool(e, cond, k, `${p}.conditions.${k}`);
  }
  const nodeName = str(e, ep, 'nodeName', `${p}.nodeName`);
  if (nodeName !== undefined) e.rule(`${p}.nodeName`, nodeName, dns1123SubdomainErrors(nodeName));
  const topo = stringMap(e, ep, 'deprecatedTopology', `${p}.deprecatedTopology`);
  if (topo && Object.keys(topo).length > MAX_TOPOLOGY_LABELS) tooMany(e, `${p}.deprecatedTopology`, Object.keys(topo).length, MAX_TOPOLOGY_LABELS);
  validateLabels(e, topo, `${p}.deprecatedTopology`);
  const hostname = str(e, ep, 'hostname', `${p}.hostname`);
  if (hostname !== undefined) e.rule(`${p}.hostname`, hostname, dns1123LabelErrors(hostname));
  str(e, ep, 'zone', `${p}.zone`);
  if (ep.targetRef !== undefined && ep.targetRef !== null && !isPlainObject(ep.targetRef)) e.wrongType(`${p}.targetRef`, ep.targetRef, 'an object');
  const hints = ep.hints;
  if (isPlainObject(hints)) validateHints(e, hints, `${p}.hints`);
  else if (hints !== undefined && hints !== null) e.wrongType(`${p}.hints`, hints, 'an object');
}

function validateHints(e: FieldErrors, hints: Obj, p: string): void {
  const zones = objItems(e, hints, 'forZones', `${p}.forZones`);
  if (zones.length > MAX_ZONE_HINTS) {
    tooMany(e, `${p}.forZones`, zones.length, MAX_ZONE_HINTS);
    return;
  }
  const seen = new Set<string>();
  for (const [z, zp] of zones) {
    const name = str(e, z, 'name', `${zp}.name`) ?? '';
    if (seen.has(name)) e.duplicate(`${zp}.name`, name);
    seen.add(name);
    e.rule(`${zp}.name`, name, labelValueErrors(name));
  }
}

function validatePorts(e: FieldErrors, o: Obj): void {
  const ports = objItems(e, o, 'ports', 'ports');
  if (ports.length > MAX_SLICE_PORTS) {
    tooMany(e, 'ports', ports.length, MAX_SLICE_PORTS);
    return;
  }
  const names = new Set<string>();
  for (const [port, p] of ports) {
    const name = str(e, port, 'name', `${p}.name`) ?? '';
    if (name !== '') e.rule(`${p}.name`, name, dns1123LabelErrors(name));
    if (names.has(name)) e.duplicate(`${p}.name`, name);
    names.add(name);
    validateProtocol(e, port, `${p}.protocol`);
    // an absent port means every port (a headless Service without ports)
    if (port.port !== undefined && port.port !== null) validatePortNumber(e, port, 'port', `${p}.port`, 0);
    validateAppProtocol(e, port, `${p}.appProtocol`);
  }
}

function validateEndpointSlice(e: FieldErrors, o: Obj): void {
  const type = str(e, o, 'addressType', 'addressType');
  if (type === undefined || type === '') {
    if (o.addressType === undefined || o.addressType === null || o.addressType === '') e.required('addressType');
  } else if (!(ADDRESS_TYPES as readonly string[]).includes(type)) {
    e.notSupported('addressType', type, ADDRESS_TYPES);
  }
  const endpoints = objItems(e, o, 'endpoints', 'endpoints');
  if (endpoints.length > MAX_SLICE_ENDPOINTS) tooMany(e, 'endpoints', endpoints.length, MAX_SLICE_ENDPOINTS);
  else for (const [ep, p] of endpoints) validateEndpoint(e, ep, p, type);
  validatePorts(e, o);
}

const MAX_SHOWN = 3;

/** The first three of `list`, then ` + N more...`; `<unset>` when empty (kubectl's listWithMoreString). */
function listWithMore(list: string[]): string {
  if (list.length === 0) return '<unset>';
  const shown = list.slice(0, MAX_SHOWN).join(',');
  return list.length > MAX_SHOWN ? `${shown} + ${list.length - MAX_SHOWN} more...` : shown;
}

/** kubectl's PORTS cell: port numbers (the name, or `*`, for a slice port without a number). */
export function formatSlicePorts(ports: readonly EndpointSlicePort[] | undefined): string {
  const list = (Array.isArray(ports) ? ports : []).map((p) => (typeof p.port === 'number' ? String(p.port) : typeof p.name === 'string' ? p.name : '*'));
  return listWithMore(list);
}

/** kubectl's ENDPOINTS cell: every endpoint's addresses, the first three, then ` + N more...`. */
export function formatSliceEndpoints(endpoints: readonly Endpoint[] | undefined): string {
  const list = (Array.isArray(endpoints) ? endpoints : []).flatMap((ep) => (Array.isArray(ep.addresses) ? ep.addresses : []));
  return listWithMore(list);
}

export const endpointSliceKind = defineKind(
  {
    group: 'discovery.k8s.io',
    version: 'v1',
    kind: 'EndpointSlice',
    plural: 'endpointslices',
    namespaced: true,
    defaults: defaultEndpointSlice,
    validate: (e, o) => validateEndpointSlice(e, o),
    validateUpdate(e, o, old) {
      if (o.addressType !== old.addressType) e.invalid('addressType', o.addressType ?? '', 'field is immutable');
    },
    schema: {
      addressType: ANY,
      endpoints: [
        {
          addresses: ANY,
          conditions: { ready: ANY, serving: ANY, terminating: ANY },
          hostname: ANY,
          targetRef: ANY,
          nodeName: ANY,
          zone: ANY,
          hints: { forZones: [{ name: ANY }] },
          deprecatedTopology: ANY,
        },
      ],
      ports: [{ name: ANY, protocol: ANY, port: ANY, appProtocol: ANY }],
    },
    printer: {
      columns: [column('Name', { format: 'name' }), column('AddressType'), column('Ports'), column('Endpoints'), column('Age')],
      cells: (o, now) => {
        const md = (o.metadata ?? {}) as Obj;
        const s = o as unknown as EndpointSlice;
        return [md.name ?? '', typeof s.addressType === 'string' ? s.addressType : '', formatSlicePorts(s.ports), formatSliceEndpoints(s.endpoints), age(md.creationTimestamp as string | undefined, now)];
      },
    },
  },
  FALLBACK,
);
