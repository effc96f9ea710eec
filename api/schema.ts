// The field names of each kind, for `fieldValidation=Strict|Warn`: a typo such
// as `imagee` is an unknown field. Fields Kubernetes defines but Flotilla does
// not implement (probes, securityContext, affinity, …) are known and opaque, so
// real manifests pass; their contents are not checked.
import { BadRequestError } from './errors.js';
import { isPlainObject } from './helpers.js';
import { lookupResource } from './resources.js';

/** `ANY`: any value; an object: known fields; a one-element array: a list of that. */
type Schema = typeof ANY | { readonly [field: string]: Schema } | readonly [Schema];
const ANY = 'any' as const;

const OWNER_REFERENCE = { apiVersion: ANY, kind: ANY, name: ANY, uid: ANY, controller: ANY, blockOwnerDeletion: ANY };

const OBJECT_META: Schema = {
  name: ANY,
  generateName: ANY,
  namespace: ANY,
  selfLink: ANY,
  uid: ANY,
  resourceVersion: ANY,
  generation: ANY,
  creationTimestamp: ANY,
  deletionTimestamp: ANY,
  deletionGracePeriodSeconds: ANY,
  labels: ANY,
  annotations: ANY,
  ownerReferences: [OWNER_REFERENCE],
  finalizers: ANY,
  managedFields: ANY,
};

const CONTAINER: Schema = {
  name: ANY,
  image: ANY,
  imagePullPolicy: ANY,
  command: ANY,
  args: ANY,
  workingDir: ANY,
  ports: [{ name: ANY, containerPort: ANY, hostPort: ANY, hostIP: ANY, protocol: ANY }],
  env: [{ name: ANY, value: ANY, valueFrom: ANY }],
  envFrom: ANY,
  resources: { requests: ANY, limits: ANY, claims: ANY },
  resizePolicy: ANY,
  restartPolicy: ANY,
  volumeMounts: [{ name: ANY, mountPath: ANY, readOnly: ANY, subPath: ANY, subPathExpr: ANY, mountPropagation: ANY, recursiveReadOnly: ANY }],
  volumeDevices: ANY,
  livenessProbe: ANY,
  readinessProbe: ANY,
  startupProbe: ANY,
  lifecycle: ANY,
  terminationMessagePath: ANY,
  terminationMessagePolicy: ANY,
  securityContext: ANY,
  stdin: ANY,
  stdinOnce: ANY,
  tty: ANY,
};

const VOLUME: Schema = {
  name: ANY,
  emptyDir: { medium: ANY, sizeLimit: ANY },
  hostPath: { path: ANY, type: ANY },
  // known volume types Flotilla refuses in validation with a clear message
  ...Object.fromEntries(
    ['awsElasticBlockStore', 'azureDisk', 'azureFile', 'cephfs', 'cinder', 'configMap', 'csi', 'downwardAPI', 'ephemeral', 'fc',
      'flexVolume', 'flocker', 'gcePersistentDisk', 'gitRepo', 'glusterfs', 'image', 'iscsi', 'nfs', 'persistentVolumeClaim',
      'photonPersistentDisk', 'portworxVolume', 'projected', 'quobyte', 'rbd', 'scaleIO', 'secret', 'storageos', 'vsphereVolume'].map((k) => [k, ANY]),
  ),
};

const POD_SPEC: Schema = {
  containers: [CONTAINER],
  initContainers: [CONTAINER],
  ephemeralContainers: ANY,
  volumes: [VOLUME],
  restartPolicy: ANY,
  terminationGracePeriodSeconds: ANY,
  activeDeadlineSeconds: ANY,
  dnsPolicy: ANY,
  dnsConfig: ANY,
  nodeSelector: ANY,
  nodeName: ANY,
  serviceAccountName: ANY,
  serviceAccount: ANY,
  automountServiceAccountToken: ANY,
  hostNetwork: ANY,
  hostPID: ANY,
  hostIPC: ANY,
  hostUsers: ANY,
  shareProcessNamespace: ANY,
  securityContext: ANY,
  imagePullSecrets: ANY,
  hostname: ANY,
  subdomain: ANY,
  setHostnameAsFQDN: ANY,
  affinity: ANY,
  schedulerName: ANY,
  tolerations: [{ key: ANY, operator: ANY, value: ANY, effect: ANY, tolerationSeconds: ANY }],
  hostAliases: ANY,
  priorityClassName: ANY,
  priority: ANY,
  preemptionPolicy: ANY,
  readinessGates: ANY,
  runtimeClassName: ANY,
  enableServiceLinks: ANY,
  overhead: ANY,
  topologySpreadConstraints: ANY,
  os: ANY,
  schedulingGates: ANY,
  resourceClaims: ANY,
  resources: ANY,
};

const CONTAINER_STATE: Schema = {
  waiting: { reason: ANY, message: ANY },
  running: { startedAt: ANY },
  terminated: { exitCode: ANY, signal: ANY, reason: ANY, message: ANY, startedAt: ANY, finishedAt: ANY, containerID: ANY },
};

const CONTAINER_STATUS: Schema = {
  name: ANY,
  state: CONTAINER_STATE,
  lastState: CONTAINER_STATE,
  ready: ANY,
  restartCount: ANY,
  image: ANY,
  imageID: ANY,
  containerID: ANY,
  started: ANY,
  allocatedResources: ANY,
  resources: ANY,
  volumeMounts: ANY,
  user: ANY,
  allocatedResourcesStatus: ANY,
  stopSignal: ANY,
};

const POD_STATUS: Schema = {
  phase: ANY,
  conditions: [{ type: ANY, status: ANY, lastProbeTime: ANY, lastTransitionTime: ANY, reason: ANY, message: ANY, observedGeneration: ANY }],
  message: ANY,
  reason: ANY,
  nominatedNodeName: ANY,
  hostIP: ANY,
  hostIPs: ANY,
  podIP: ANY,
  podIPs: [{ ip: ANY }],
  startTime: ANY,
  initContainerStatuses: [CONTAINER_STATUS],
  containerStatuses: [CONTAINER_STATUS],
  ephemeralContainerStatuses: ANY,
  qosClass: ANY,
  resize: ANY,
  resourceClaimStatuses: ANY,
  observedGeneration: ANY,
};

const TYPE_META = { apiVersion: ANY, kind: ANY, metadata: OBJECT_META };

const SCHEMAS: Readonly<Record<string, Schema>> = {
  Pod: { ...TYPE_META, spec: POD_SPEC, status: POD_STATUS },
  Node: {
    ...TYPE_META,
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
  Namespace: { ...TYPE_META, spec: { finalizers: ANY }, status: { phase: ANY, conditions: ANY } },
  Event: {
    ...TYPE_META,
    involvedObject: { kind: ANY, namespace: ANY, name: ANY, uid: ANY, apiVersion: ANY, resourceVersion: ANY, fieldPath: ANY },
    reason: ANY,
    message: ANY,
    source: { component: ANY, host: ANY },
    firstTimestamp: ANY,
    lastTimestamp: ANY,
    count: ANY,
    type: ANY,
    eventTime: ANY,
    series: ANY,
    action: ANY,
    related: ANY,
    reportingComponent: ANY,
    reportingInstance: ANY,
  },
};

function walk(v: unknown, schema: Schema, path: string, out: string[]): void {
  if (schema === ANY || v === null || v === undefined) return;
  if (Array.isArray(schema)) {
    if (!Array.isArray(v)) return; // wrong types are validation's business
    v.forEach((x, i) => walk(x, schema[0] as Schema, `${path}[${i}]`, out));
    return;
  }
  if (!isPlainObject(v)) return;
  const fields = schema as { readonly [field: string]: Schema };
  for (const [k, x] of Object.entries(v)) {
    const p = path ? `${path}.${k}` : k;
    const sub = Object.prototype.hasOwnProperty.call(fields, k) ? fields[k] : undefined;
    if (sub === undefined) out.push(p);
    else walk(x, sub, p, out);
  }
}

/**
 * Paths of the fields of `obj` that its kind does not define, e.g.
 * `spec.containers[0].imagee`. Empty for unknown kinds (they are refused elsewhere).
 */
export function findUnknownFields(obj: unknown): string[] {
  if (!isPlainObject(obj) || typeof obj.kind !== 'string') return [];
  const res = lookupResource(obj.kind);
  const schema = res && res.kind === obj.kind ? SCHEMAS[res.kind] : undefined;
  if (!schema) return [];
  const out: string[] = [];
  walk(obj, schema, '', out);
  return out;
}

/** The warning texts for unknown fields, as Kubernetes sends them in `Warning` headers. */
export function unknownFieldWarnings(obj: unknown): string[] {
  return findUnknownFields(obj).map((f) => `unknown field "${f}"`);
}

/**
 * For `fieldValidation=Strict`: throws BadRequestError
 * `strict decoding error: unknown field "spec.containers[0].imagee"` (several joined with `, `).
 */
export function assertNoUnknownFields(obj: unknown): void {
  const warnings = unknownFieldWarnings(obj);
  if (warnings.length > 0) throw new BadRequestError(`strict decoding error: ${warnings.join(', ')}`);
}
