// Which nodes run a daemon pod, and the pod a DaemonSet creates for a node.
// Pure: table-tested in test/unit/daemonset-nodes.test.ts.
//
// As Kubernetes: a node runs the pod when the template's nodeSelector and
// required node affinity match it and the pod (with the tolerations every
// daemon pod gets) tolerates its NoSchedule and NoExecute taints; a pod that
// runs on a node with an untolerated NoSchedule taint may stay there
// (shouldContinueRunning), one with an untolerated NoExecute taint must go.
// Cordoned nodes still run daemon pods (the unschedulable toleration).
import { TEMPLATE_GENERATION_ANNOTATION, type DaemonSet, type Node, type Pod, type Taint, type Toleration } from '../../api/index.js';
import { podMatchesNodeSelectorAndAffinity, tolerationsTolerateTaint } from '../scheduler/index.js';

export const CONTROLLER_REVISION_HASH = 'controller-revision-hash';
/** The template generation a daemon pod was made from (the DaemonSet's `deprecated.daemonset.template.generation`). */
export const POD_TEMPLATE_GENERATION = 'pod-template-generation';

/** The tolerations Kubernetes adds to every daemon pod (network-unavailable only with hostNetwork). */
export function daemonTolerations(hostNetwork: boolean): Toleration[] {
  const t: Toleration[] = [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
  ];
  if (hostNetwork) t.push({ key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' });
  return t;
}

function sameToleration(a: Toleration, b: Toleration): boolean {
  return (a.key ?? '') === (b.key ?? '') && (a.operator ?? 'Equal') === (b.operator ?? 'Equal') && (a.value ?? '') === (b.value ?? '') && (a.effect ?? '') === (b.effect ?? '');
}

/** The template's tolerations plus the daemon ones it does not already carry (an existing one with the same key and effect wins). */
export function withDaemonTolerations(tols: readonly Toleration[] | undefined, hostNetwork: boolean): Toleration[] {
  const out = [...(tols ?? [])];
  for (const d of daemonTolerations(hostNetwork)) {
    if (out.some((t) => sameToleration(t, d) || ((t.key ?? '') === d.key && (t.effect ?? '') === d.effect))) continue;
    out.push(d);
  }
  return out;
}

export interface NodeDecision {
  /** A daemon pod should be created here when none is. */
  shouldRun: boolean;
  /** A daemon pod already here may stay. */
  shouldContinueRunning: boolean;
}

const NO: NodeDecision = { shouldRun: false, shouldContinueRunning: false };

/** Kubernetes' NodeShouldRunDaemonPod. */
export function nodeShouldRunDaemonPod(node: Node, ds: DaemonSet): NodeDecision {
  const spec = ds.spec?.template?.spec;
  if (!spec) return NO;
  const name = node.metadata.name ?? '';
  if (spec.nodeName && spec.nodeName !== name) return NO;
  const pod = { metadata: {}, spec: { ...spec, tolerations: withDaemonTolerations(spec.tolerations, spec.hostNetwork === true) } } as Pod;
  if (!podMatchesNodeSelectorAndAffinity(pod, { name, labels: node.metadata.labels ?? {} })) return NO;
  const hard = (node.spec?.taints ?? []).filter((t: Taint) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
  const untolerated = hard.filter((t) => !tolerationsTolerateTaint(pod.spec.tolerations, t));
  if (untolerated.length === 0) return { shouldRun: true, shouldContinueRunning: true };
  return { shouldRun: false, shouldContinueRunning: untolerated.every((t) => t.effect !== 'NoExecute') };
}

/** The node a daemon pod is for: its nodeName, or (not yet bound) the node its matchFields affinity names. */
export function targetNodeOf(pod: Pod): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const t of terms) {
    for (const f of t.matchFields ?? []) {
      if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) return f.values[0];
    }
  }
  return undefined;
}

/**
 * The pod the DaemonSet creates for `nodeName`: the template with the daemon
 * tolerations, the revision hash label, a controller owner reference, and a
 * required node affinity `metadata.name In [node]` replacing the template's
 * required terms (the node was already found to match them), so the scheduler
 * binds it there — as Kubernetes' daemonset controller does.
 */
export function newDaemonPod(ds: DaemonSet, hash: string, nodeName: string): Pod {
  const t = ds.spec.template;
  const spec = structuredClone(t.spec);
  spec.tolerations = withDaemonTolerations(spec.tolerations, spec.hostNetwork === true);
  const affinity = spec.affinity ?? {};
  spec.affinity = {
    ...affinity,
    nodeAffinity: {
      ...(affinity.nodeAffinity ?? {}),
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }],
      },
    },
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${ds.metadata.name!.slice(0, 57)}-`,
      namespace: ds.metadata.namespace ?? 'default',
      labels: {
        ...(t.metadata?.labels ?? {}),
        [CONTROLLER_REVISION_HASH]: hash,
        [POD_TEMPLATE_GENERATION]: ds.metadata.annotations?.[TEMPLATE_GENERATION_ANNOTATION] ?? String(ds.metadata.generation ?? 1),
      },
      ...(t.metadata?.annotations ? { annotations: { ...t.metadata.annotations } } : {}),
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'DaemonSet', name: ds.metadata.name!, uid: ds.metadata.uid!, controller: true, blockOwnerDeletion: true } as never,
      ],
    },
    spec,
  } as Pod;
}
