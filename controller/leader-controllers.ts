// The workload controllers the leader runs besides the node lifecycle,
// namespace and garbage-collection loops and the scheduler: one entry per
// controller, each built from the same context and run until leadership ends.
// A new controller is one line in LEADER_CONTROLLERS.
import { CronJobController } from './cronjob/index.js';
import { DaemonSetController } from './daemonset/index.js';
import { DisruptionController } from './disruption/index.js';
import { DeploymentController } from './deployment/index.js';
import { ReplicaSetController } from './replicaset/index.js';
import { JobController } from './job/index.js';
import { LoadBalancerController } from './services/loadbalancer.js';
import { EndpointsController } from './endpoints/index.js';
import { ServiceRepair } from './services/index.js';

import type { LeaderContext, LeaderController } from './leader-context.js';

export type { LeaderContext, LeaderController };

export interface LeaderControllerEntry {
  name: string;
  start(ctx: LeaderContext): LeaderController;
}

/** Every workload controller of the leader, in start order. */
export const LEADER_CONTROLLERS: LeaderControllerEntry[] = [
  { name: 'disruption', start: (ctx) => new DisruptionController({ store: ctx.store, informers: ctx.informers, clock: ctx.clock, metrics: ctx.metrics, log: ctx.log('disruption-controller') }) },
  { name: 'daemonset', start: (ctx) => new DaemonSetController({ api: ctx.api, informers: ctx.informers, clock: ctx.clock, metrics: ctx.metrics, log: ctx.log('daemonset-controller'), recorder: ctx.recorder('daemonset-controller') }) },
  { name: 'replicaset', start: (ctx) => ReplicaSetController.fromContext(ctx) },
  { name: 'deployment', start: (ctx) => DeploymentController.fromContext(ctx) },
  { name: 'job', start: (ctx) => new JobController({ api: ctx.api, informers: ctx.informers, clock: ctx.clock, metrics: ctx.metrics, log: ctx.log('job-controller'), recorder: ctx.recorder('job-controller'), ...(typeof ctx.flags['job-backoff-base-ms'] === 'number' ? { backoff: { baseMs: ctx.flags['job-backoff-base-ms'] } } : {}) }) },
  { name: 'cronjob', start: (ctx) => new CronJobController({ api: ctx.api, informers: ctx.informers, clock: ctx.clock, metrics: ctx.metrics, log: ctx.log('cronjob-controller'), recorder: ctx.recorder('cronjob-controller') }) },
  { name: 'service-repair', start: (ctx) => new ServiceRepair({ store: ctx.store, allocator: ctx.api.services.allocator, clock: ctx.clock, log: ctx.log('service-repair'), recorder: ctx.recorder('ipallocator-repair-controller') }) },
  { name: 'endpoints', start: (ctx) => new EndpointsController({ api: ctx.api, informers: ctx.informers, clock: ctx.clock, metrics: ctx.metrics, log: ctx.log('endpoints-controller'), recorder: ctx.recorder('endpoints-controller') }) },
  { name: 'loadbalancer', start: (ctx) => new LoadBalancerController({ api: ctx.api, informers: ctx.informers, clock: ctx.clock, metrics: ctx.metrics, log: ctx.log('loadbalancer-controller') }) },
];
