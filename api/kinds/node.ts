// Node (core/v1, cluster-scoped): the descriptor.
import { isPlainObject } from '../helpers.js';
import { ANY, boolFieldPath, column, defineKind } from '../kind.js';
import { age } from '../printers/age.js';
import type { Node } from '../types.js';
import { labelValueErrors, qualifiedNameErrors } from '../validation-rules.js';
import { FieldErrors, bool, obj, objItems, resourceList, str, stringArray, timestamp, validateCIDR, validateConditions } from '../validation-core.js';
import { FALLBACK } from './common.js';

type Obj = Record<string, unknown>;

const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

const NODE_INFO_STRINGS = [
  'machineID', 'systemUUID', 'bootID', 'kernelVersion', 'osImage', 'containerRuntimeVersion',
  'kubeletVersion', 'kubeProxyVersion', 'operatingSystem', 'architecture',
];

function validateNode(e: FieldErrors, o: Obj): void {
  const spec = obj(e, o, 'spec', 'spec');
  if (spec) {
    const cidr = str(e, spec, 'podCIDR', 'spec.podCIDR');
    if (cidr) validateCIDR(e, 'spec.podCIDR', cidr);
    stringArray(e, spec, 'podCIDRs', 'spec.podCIDRs')?.forEach((c, i) => validateCIDR(e, `spec.podCIDRs[${i}]`, c));
    bool(e, spec, 'unschedulable', 'spec.unschedulable');
    str(e, spec, 'providerID', 'spec.providerID');
    const seen = new Set<string>();
    for (const [t, p] of objItems(e, spec, 'taints', 'spec.taints')) {
      const key = str(e, t, 'key', `${p}.key`, true);
      if (key !== undefined) e.rule(`${p}.key`, key, qualifiedNameErrors(key));
      const value = str(e, t, 'value', `${p}.value`);
      if (value) e.rule(`${p}.value`, value, labelValueErrors(value));
      const effect = str(e, t, 'effect', `${p}.effect`, true);
      if (effect !== undefined && !(TAINT_EFFECTS as readonly string[]).includes(effect)) e.notSupported(`${p}.effect`, effect, TAINT_EFFECTS);
      timestamp(e, t, 'timeAdded', `${p}.timeAdded`);
      if (key !== undefined && effect !== undefined) {
        const k = `${key}:${effect}`;
        if (seen.has(k)) e.duplicate(p, k);
        seen.add(k);
      }
    }
  }
  const status = obj(e, o, 'status', 'status');
  if (status) {
    resourceList(e, status, 'capacity', 'status.capacity', ['cpu', 'memory', 'pods', 'ephemeral-storage']);
    resourceList(e, status, 'allocatable', 'status.allocatable', ['cpu', 'memory', 'pods', 'ephemeral-storage']);
    str(e, status, 'phase', 'status.phase');
    validateConditions(e, status, 'status.conditions');
    for (const [a, p] of objItems(e, status, 'addresses', 'status.addresses')) {
      str(e, a, 'type', `${p}.type`, true);
      str(e, a, 'address', `${p}.address`, true);
    }
    const info = obj(e, status, 'nodeInfo', 'status.nodeInfo');
    if (info) for (const k of NODE_INFO_STRINGS) str(e, info, k, `status.nodeInfo.${k}`);
  }
}


function validateNodeUpdate(e: FieldErrors, o: Obj, old: Obj): void {
  const spec = isPlainObject(o.spec) ? o.spec : {};
  const oldSpec = isPlainObject(old.spec) ? old.spec : {};
  const oldCidr = oldSpec.podCIDR ?? '';
  if (oldCidr !== '' && (spec.podCIDR ?? '') !== oldCidr) {
    e.forbidden('spec.podCIDR', 'node updates may not change podCIDR except from "" to valid');
  }
}


/** STATUS of a node as kubectl prints it: Ready, NotReady (Ready False or Unknown), Unknown (no condition), plus SchedulingDisabled. */
export function nodeStatus(node: Node): string {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const parts = [!ready ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady'];
  if (node.spec?.unschedulable) parts.push('SchedulingDisabled');
  return parts.join(',');
}

/** ROLES from `node-role.kubernetes.io/<role>` and `kubernetes.io/role` labels. */
export function nodeRoles(node: Node): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(node.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) {
      const role = k.slice('node-role.kubernetes.io/'.length);
      if (role !== '') roles.add(role);
    } else if (k === 'kubernetes.io/role' && v !== '') {
      roles.add(v);
    }
  }
  return roles.size === 0 ? '<none>' : [...roles].sort().join(',');
}

function nodeAddress(node: Node, type: string): string {
  return node.status?.addresses?.find((a) => a.type === type)?.address || '<none>';
}

export const nodeKind = defineKind(
  {
    group: '',
    version: 'v1',
    kind: 'Node',
    plural: 'nodes',
    shortNames: ['no'],
    namespaced: false,
    subresources: ['status'],
    validate: (e, o) => validateNode(e, o),
    validateUpdate: validateNodeUpdate,
    schema: {
      spec: { podCIDR: ANY, podCIDRs: ANY, unschedulable: ANY, taints: [{ key: ANY, value: ANY, effect: ANY, timeAdded: ANY }], providerID: ANY, configSource: ANY, externalID: ANY },
      status: {
        capacity: ANY,
        allocatable: ANY,
        phase: ANY,
        conditions: [{ type: ANY, status: ANY, lastHeartbeatTime: ANY, lastTransitionTime: ANY, reason: ANY, message: ANY }],
        addresses: [{ type: ANY, address: ANY }],
        daemonEndpoints: ANY,
        nodeInfo: ANY,
        images: ANY,
        volumesInUse: ANY,
        volumesAttached: ANY,
        config: ANY,
        runtimeHandlers: ANY,
        features: ANY,
      },
    },
    fieldLabels: { 'spec.unschedulable': boolFieldPath('spec', 'unschedulable') },
    mergeKeys: { addresses: 'type' },
    printer: {
      columns: [
        column('Name', { format: 'name' }),
        column('Status'),
        column('Roles'),
        column('Age'),
        column('Version'),
        column('Internal-IP', { priority: 1 }),
        column('External-IP', { priority: 1 }),
        column('OS-Image', { priority: 1 }),
        column('Kernel-Version', { priority: 1 }),
        column('Container-Runtime', { priority: 1 }),
      ],
      cells(o, now) {
        const n = o as unknown as Node;
        const info = n.status?.nodeInfo ?? {};
        return [
          n.metadata.name ?? '',
          nodeStatus(n),
          nodeRoles(n),
          age(n.metadata.creationTimestamp, now),
          info.kubeletVersion || '',
          nodeAddress(n, 'InternalIP'),
          nodeAddress(n, 'ExternalIP'),
          info.osImage || '<unknown>',
          info.kernelVersion || '<unknown>',
          info.containerRuntimeVersion || '<unknown>',
        ];
      },
    },
  },
  FALLBACK,
);
