// The kinds Flotilla serves: one descriptor file per kind, one line here each.
// Adding a kind with no controller is its file plus its line (see api/README.md).
import { KindRegistry } from '../registry.js';
import { configMapKind } from './configmap.js';
import { controllerRevisionKind } from './controllerrevision.js';
import { cronJobKind } from './cronjob.js';
import { daemonSetKind } from './daemonset.js';
import { deploymentKind } from './deployment.js';
import { eventKind } from './event.js';
import { jobKind } from './job.js';
import { namespaceKind } from './namespace.js';
import { nodeKind } from './node.js';
import { podKind } from './pod.js';
import { podDisruptionBudgetKind } from './poddisruptionbudget.js';
import { replicaSetKind } from './replicaset.js';
import { secretKind } from './secret.js';
import { serviceKind } from './service.js';
import { endpointsKind } from './endpoints.js';
import { endpointSliceKind } from './endpointslice.js';

export const REGISTRY = new KindRegistry()
  .register(podKind)
  .register(nodeKind)
  .register(namespaceKind)
  .register(eventKind)
  .register(configMapKind)
  .register(secretKind)
  .register(serviceKind)
  .register(endpointsKind)
  .register(daemonSetKind)
  .register(replicaSetKind)
  .register(deploymentKind)
  .register(controllerRevisionKind)
  .register(jobKind)
  .register(cronJobKind)
  // groups the next kinds register into; served (discovery, routing) from now on
  .addGroupVersion('apps', 'v1')
  .addGroupVersion('batch', 'v1')
  .addGroupVersion('discovery.k8s.io', 'v1')
  .addGroupVersion('policy', 'v1')
  .register(podDisruptionBudgetKind)
  .register(endpointSliceKind)
  .addGroupVersion('flotilla.io', 'v1', [
    { name: 'bootstraptokens', singularName: 'bootstraptoken', namespaced: false, kind: 'BootstrapToken', verbs: ['create', 'delete', 'list'] },
    { name: 'subnets', singularName: 'subnet', namespaced: false, kind: 'Subnet', verbs: ['list'] },
  ]);

export { podKind, nodeKind, namespaceKind, eventKind, configMapKind, secretKind };
export * from './pod.js';
export * from './node.js';
export * from './namespace.js';
export * from './event.js';
export * from './configmap.js';
export * from './secret.js';
export * from './daemonset.js';
export * from './replicaset.js';
export * from './deployment.js';
export * from './controllerrevision.js';
export * from './poddisruptionbudget.js';
export * from './job.js';
export * from './cronjob.js';
export * from './service.js';
export * from './endpoints.js';
export * from './endpointslice.js';
export * from './pod-dns.js';
export { configKeyErrors } from './config-keys.js';
