// The endpoints controller (on the leader): for every Service with a selector,
// the EndpointSlices (discovery.k8s.io/v1) of the pods it selects, and the
// legacy Endpoints (core/v1) mirrored for old clients — one controller for
// both, as the issue asks (Kubernetes runs two). reconcile(namespace/name) is
// level-triggered from the services, pods, endpointslices and endpoints
// informers; it decides with the pure planners of plan.ts and writes through
// the API. Slices are owned by their Service (the garbage collector removes
// them with it); the Endpoints object is deleted with its Service. A cache
// that has not yet seen this controller's own slice writes holds the Service
// back (a short requeue), so a slow informer never makes it create twice.
import {
  componentLogger,
  endpointSliceKind,
  endpointsKind,
  jsonEqual,
  realClock,
  toFlotillaError,
  LABEL_MANAGED_BY,
  LABEL_SERVICE_NAME,
  type Clock,
  type DeleteOptions,
  type Endpoint,
  type EndpointSlice,
  type EndpointSlicePort,
  type Endpoints,
  type KindDescriptor,
  type KubeObject,
  type Logger,
  type Pod,
  type Service,
} from '../../api/index.js';
import type { MetricsRegistry } from '../../api/metrics.js';
import type { EventRecorder } from '../events/index.js';
import type { InformerFactory, SharedInformer } from '../informers/index.js';
import { ExponentialBackoff, WorkQueue, runController, type ReconcileResult } from '../queue/index.js';
import { HEADLESS_LABEL, MANAGED_BY, OVER_CAPACITY_ANNOTATION, desiredGroups, desiredSubsets, planSlices } from './plan.js';

type Target = { res: KindDescriptor; namespace?: string; name?: string; subresource?: string };

/** What the controller writes through: the API's REST semantics (ResourceApi fits). */
export interface EndpointsApi {
  create(t: Target, body: unknown): Promise<KubeObject>;
  update(t: Target, body: unknown): Promise<KubeObject>;
  delete(t: Target, o: DeleteOptions): Promise<unknown>;
}

export interface EndpointsControllerOptions {
  api: EndpointsApi;
  informers: InformerFactory;
  recorder?: EventRecorder;
  clock?: Clock;
  log?: Logger;
  metrics?: MetricsRegistry;
  /** Services reconciled at once. Default 4. */
  workers?: number;
  /** Endpoints a slice holds at most. Default 100 (Kubernetes' --max-endpoints-per-slice). */
  maxEndpointsPerSlice?: number;
  /** Services this controller leaves alone (the API server keeps `default/kubernetes` itself). */
  skip?: (svc: Service) => boolean;
}

const keyOf = (o: { metadata: { namespace?: string; name?: string } }) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

function selects(svc: Service, pod: Pod): boolean {
  const sel = svc.spec?.selector;
  if (!sel || Object.keys(sel).length === 0) return false;
  const labels = pod.metadata.labels ?? {};
  return Object.entries(sel).every(([k, v]) => labels[k] === v);
}

/** Labels of a managed slice: the Service's own (as Kubernetes copies them), ours on top. */
function sliceLabels(svc: Service): Record<string, string> {
  const out: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
  delete out[LABEL_SERVICE_NAME];
  delete out[LABEL_MANAGED_BY];
  if (svc.spec.clusterIP === 'None') out[HEADLESS_LABEL] = '';
  out[LABEL_SERVICE_NAME] = svc.metadata.name ?? '';
  out[LABEL_MANAGED_BY] = MANAGED_BY;
  return out;
}

function ownerRef(svc: Service) {
  return { apiVersion: 'v1', kind: 'Service', name: svc.metadata.name ?? '', uid: svc.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

export class EndpointsController {
  private readonly log: Logger;
  private readonly clock: Clock;
  private services!: SharedInformer<Service>;
  private pods!: SharedInformer<Pod>;
  private slices!: SharedInformer<EndpointSlice>;
  private endpoints!: SharedInformer<Endpoints>;
  /** Slices this controller wrote, by name, with the resourceVersion it got back (or `deleted`), until the cache has caught up. */
  private readonly written = new Map<string, Map<string, string>>();

  constructor(private readonly o: EndpointsControllerOptions) {
    this.log = o.log ?? componentLogger('endpoints-controller');
    this.clock = o.clock ?? realClock;
  }

  async run(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue({ name: 'endpoints', clock: this.clock, rateLimiter: new ExponentialBackoff({ baseMs: 100, maxMs: 30_000 }) });
    const inf = this.o.informers;
    this.services = inf.informerFor<Service>('services');
    this.pods = inf.informerFor<Pod>('pods');
    this.slices = inf.informerFor<EndpointSlice>('endpointslices');
    this.endpoints = inf.informerFor<Endpoints>('endpoints');
    const enqueue = (o: { metadata: { namespace?: string; name?: string } }) => queue.add(keyOf(o));
    this.services.addEventHandler({ onAdd: enqueue, onUpdate: (_, s) => enqueue(s), onDelete: enqueue }, { signal });
    const forPod = (p: Pod) => {
      for (const s of this.services.byIndex('namespace', p.metadata.namespace ?? '')) if (selects(s, p)) enqueue(s);
    };
    this.pods.addEventHandler(
      {
        onAdd: forPod,
        onUpdate: (old, p) => {
          forPod(p);
          if (!jsonEqual(old.metadata.labels ?? {}, p.metadata.labels ?? {})) forPod(old);
        },
        onDelete: forPod,
      },
      { signal },
    );
    const forSlice = (s: EndpointSlice) => {
      const svc = s.metadata.labels?.[LABEL_SERVICE_NAME];
      if (svc && s.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY) queue.add(`${s.metadata.namespace ?? ''}/${svc}`);
    };
    this.slices.addEventHandler({ onAdd: forSlice, onUpdate: (_, s) => forSlice(s), onDelete: forSlice }, { signal });
    this.endpoints.addEventHandler({ onUpdate: (_, e) => enqueue(e), onDelete: enqueue }, { signal });
    await runController({
      name: 'endpoints',
      queue,
      workers: this.o.workers ?? 4,
      signal,
      waitFor: [this.services, this.pods, this.slices, this.endpoints],
      log: this.log,
      clock: this.clock,
      ...(this.o.metrics ? { metrics: this.o.metrics } : {}),
      reconcile: (key) => this.reconcile(key),
    });
  }

  /** The managed slices of the Service in the cache. */
  private managedSlices(ns: string, name: string): EndpointSlice[] {
    return this.slices.byIndex('namespace', ns).filter((s) => s.metadata.labels?.[LABEL_SERVICE_NAME] === name && s.metadata.labels?.[LABEL_MANAGED_BY] === MANAGED_BY);
  }

  /** Whether the cache shows every slice write of this controller for KEY. */
  private cacheCaughtUp(key: string, ns: string): boolean {
    const w = this.written.get(key);
    if (!w) return true;
    for (const [name, rv] of w) {
      const cached = this.slices.getByName(ns, name);
      const seen = rv === 'deleted' ? cached === undefined : cached !== undefined && BigInt(cached.metadata.resourceVersion ?? '0') >= BigInt(rv);
      if (!seen) return false;
      w.delete(name);
    }
    if (w.size === 0) this.written.delete(key);
    return true;
  }

  private remember(key: string, name: string, rv: string): void {
    const w = this.written.get(key) ?? new Map<string, string>();
    w.set(name, rv);
    this.written.set(key, w);
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const i = key.indexOf('/');
    const ns = key.slice(0, i);
    const name = key.slice(i + 1);
    const svc = this.services.getByName(ns, name);
    if (!svc || svc.metadata.deletionTimestamp) {
      // slices go with their owner (garbage collector); Endpoints have no owner: delete them
      this.written.delete(key);
      if (this.endpoints.getByName(ns, name)) await this.remove({ res: endpointsKind, namespace: ns, name });
      return;
    }
    if (this.o.skip?.(svc)) return;
    if (!svc.spec.selector || Object.keys(svc.spec.selector).length === 0) return; // selectorless: the user's endpoints
    if (!this.cacheCaughtUp(key, ns)) return { requeueAfterMs: 50 };
    const svcObj = { ...svc, apiVersion: 'v1', kind: 'Service' } as Service;
    const external = svc.spec.type === 'ExternalName';
    const pods = external ? [] : this.pods.byIndex('namespace', ns).filter((p) => selects(svc, p));
    await this.syncSlices(key, svcObj, pods, external);
    await this.syncEndpoints(svcObj, pods, external);
  }

  private async syncSlices(key: string, svc: Service, pods: Pod[], external: boolean): Promise<void> {
    const ns = svc.metadata.namespace ?? '';
    const existing = this.managedSlices(ns, svc.metadata.name ?? '');
    if (external) {
      for (const s of existing) await this.deleteSlice(key, s);
      return;
    }
    const plan = planSlices(desiredGroups(svc, pods), existing, this.o.maxEndpointsPerSlice);
    const labels = sliceLabels(svc);
    for (const s of plan.delete) await this.deleteSlice(key, s);
    for (const u of plan.update) {
      const next: EndpointSlice = { ...u.slice, metadata: { ...u.slice.metadata, labels, ownerReferences: [ownerRef(svc)] }, endpoints: u.endpoints, ports: u.ports };
      await this.writeSlice(key, () => this.o.api.update({ res: endpointSliceKind, namespace: ns, name: u.slice.metadata.name! }, next));
    }
    for (const c of plan.create) {
      const body = this.newSlice(svc, labels, c.ports, c.endpoints);
      await this.writeSlice(key, () => this.o.api.create({ res: endpointSliceKind, namespace: ns }, body));
    }
    // a label or owner drift on slices the plan left alone (the Service's labels changed)
    for (const s of existing) {
      if (plan.delete.includes(s) || plan.update.some((u) => u.slice === s)) continue;
      if (jsonEqual(s.metadata.labels ?? {}, labels) && s.metadata.ownerReferences?.some((r) => r.uid === svc.metadata.uid)) continue;
      await this.writeSlice(key, () => this.o.api.update({ res: endpointSliceKind, namespace: ns, name: s.metadata.name! }, { ...s, metadata: { ...s.metadata, labels, ownerReferences: [ownerRef(svc)] } }));
    }
  }

  private newSlice(svc: Service, labels: Record<string, string>, ports: EndpointSlicePort[], endpoints: Endpoint[]): EndpointSlice {
    return {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { generateName: `${svc.metadata.name}-`, namespace: svc.metadata.namespace ?? '', labels, ownerReferences: [ownerRef(svc)] },
      addressType: 'IPv4',
      endpoints,
      ports,
    } as EndpointSlice;
  }

  private async writeSlice(key: string, write: () => Promise<KubeObject>): Promise<void> {
    try {
      const s = await write();
      this.remember(key, s.metadata.name ?? '', s.metadata.resourceVersion ?? '0');
    } catch (e) {
      const err = toFlotillaError(e);
      // a conflict or a slice gone meanwhile is retried quietly: the next pass sees the truth
      if (err.code !== 'Conflict' && err.code !== 'NotFound') this.log.warn({ service: key, err: err.message }, 'EndpointSlice write failed');
      throw e;
    }
  }

  private async deleteSlice(key: string, s: EndpointSlice): Promise<void> {
    await this.remove({ res: endpointSliceKind, namespace: s.metadata.namespace ?? '', name: s.metadata.name ?? '' }, s.metadata.uid);
    this.remember(key, s.metadata.name ?? '', 'deleted');
  }

  private async remove(t: Target, uid?: string): Promise<void> {
    try {
      await this.o.api.delete(t, uid ? { preconditions: { uid } } : {});
    } catch (e) {
      const code = toFlotillaError(e).code;
      if (code !== 'NotFound' && code !== 'Conflict') throw e;
    }
  }

  private async syncEndpoints(svc: Service, pods: Pod[], external: boolean): Promise<void> {
    const ns = svc.metadata.namespace ?? '';
    const name = svc.metadata.name ?? '';
    const cur = this.endpoints.getByName(ns, name);
    if (external) {
      if (cur) await this.remove({ res: endpointsKind, namespace: ns, name });
      return;
    }
    const { subsets, truncated } = desiredSubsets(svc, pods);
    const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
    if (svc.spec.clusterIP === 'None') labels[HEADLESS_LABEL] = '';
    const annotations: Record<string, string> = { ...(cur?.metadata.annotations ?? {}) };
    if (truncated) annotations[OVER_CAPACITY_ANNOTATION] = 'truncated';
    else delete annotations[OVER_CAPACITY_ANNOTATION];
    if (cur && jsonEqual(cur.subsets ?? [], subsets) && jsonEqual(cur.metadata.labels ?? {}, labels) && jsonEqual(cur.metadata.annotations ?? {}, annotations)) return;
    const body: Endpoints = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { ...(cur?.metadata ?? {}), name, namespace: ns, labels, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
      subsets,
    };
    if (Object.keys(annotations).length === 0) delete body.metadata.annotations;
    // a conflict or AlreadyExists means the cache is behind: the retry (with back-off) sees the stored one
    if (cur) await this.o.api.update({ res: endpointsKind, namespace: ns, name }, body);
    else await this.o.api.create({ res: endpointsKind, namespace: ns }, body);
  }
}
