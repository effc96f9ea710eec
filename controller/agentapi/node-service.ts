// The controller's side of the agent protocol (api/proto/agent.proto). Every
// NodeService call is made with a node certificate; the node it names may read
// its own pods and the ConfigMaps and Secrets they reference (node-restriction.ts),
// watch every Service and EndpointSlice (read-only: its proxy and DNS need all),
// and write only its own Node, lease, pod statuses and events.
// Join lives on the TLS-only Bootstrap service.
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  GoneError,
  NotFoundError,
  UnauthorizedError,
  isFlotillaError,
  realClock,
  toFlotillaError,
  type Clock,
  type Event,
  type Logger,
  type Node,
  type Pod,
  type PodStatus,
  rfc3339,
} from '../../api/index.js';
import { CONFIG_RESOURCES, fromJsonBytes, toJsonBytes, type ConfigResource } from '../../api/agent-protocol.js';
import { streamErrorToGrpc } from '../../api/streams-protocol.js';
import type { Store } from '../storage/store.js';
import { nodeNameFromSubjectCN, signNodeCsr, validateNodeName, type CaMaterial } from '../join/node-certificate.js';
import { verifyToken, type BootstrapTokenRecord } from '../join/bootstrap-token.js';
import { configReadDecision, describeConfigRef, type ConfigObjectRef, type ReadDecision } from './node-restriction.js';
import { NodePodFeed } from './pod-feed.js';
import { NodeServiceFeed } from './service-feed.js';

/** How often an unchanged Node status is written anyway (its conditions' lastHeartbeatTime). */
export const NODE_STATUS_REFRESH_MS = 5 * 60_000;

/** Where the controller keeps node leases (heartbeats), as Kubernetes does. */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export interface NodeLease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; uid?: string; creationTimestamp?: string };
  spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: string };
}

export interface TokenLookup {
  get(id: string): Promise<BootstrapTokenRecord | undefined>;
}

export interface NodeServiceDeps {
  store: Store;
  tokens: TokenLookup;
  ca: CaMaterial;
  log: Logger;
  clock?: Clock;
  leaseDurationSeconds?: number;
  /** Told to joining agents: where the node service listens (same host). */
  nodePort?: number;
  /** The shared pod watch the agents' WatchPods streams are fed from (made here when absent). */
  podFeed?: NodePodFeed;
  /** The shared Service/EndpointSlice watch the agents' WatchServices streams are fed from (made here when absent). */
  serviceFeed?: NodeServiceFeed;
}

/** Typed errors as gRPC statuses: the one mapping, shared with the agents' stream service. */
export function toGrpcError(e: unknown): grpc.ServiceError {
  return streamErrorToGrpc(e) as grpc.ServiceError;
}

/**
 * The node a call speaks for, from its verified client certificate. The
 * certificate is fixed for the life of a TLS connection, and parsing it
 * (getPeerCertificate) on every call was a measurable share of the controller's
 * time at 1000 nodes: the answer is kept per HTTP/2 session (connection).
 */
export function callerNode(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): string {
  const session = sessionOf(call);
  const known = session ? nodeBySession.get(session) : undefined;
  if (known !== undefined) return known;
  const ctx = call.getAuthContext();
  const cn = ctx?.sslPeerCertificate?.subject?.CN;
  const node = nodeNameFromSubjectCN(Array.isArray(cn) ? cn[0] : cn);
  if (!node) throw new UnauthorizedError('a node client certificate (CN=system:node:<name>) is required');
  if (session) nodeBySession.set(session, node);
  return node;
}

const nodeBySession = new WeakMap<object, string>();

/**
 * The HTTP/2 session a grpc-js server call arrived on, where grpc-js keeps it
 * (call.call.stream.session, no interceptors); undefined if that ever changes,
 * and then every call reads the certificate again.
 */
function sessionOf(call: object): object | undefined {
  const inner = (call as { call?: { stream?: { session?: unknown } } }).call;
  const s = inner?.stream?.session;
  return typeof s === 'object' && s !== null ? s : undefined;
}

function parseJson<T>(b: Buffer | undefined, what: string): T {
  let v: T | undefined;
  try {
    v = fromJsonBytes<T>(b);
  } catch (e) {
    throw new BadRequestError(`${what}: invalid JSON: ${(e as Error).message}`);
  }
  if (v === undefined || v === null || typeof v !== 'object') throw new BadRequestError(`${what}: required`);
  return v;
}

type Unary<Req, Res> = (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => void;

function unary<Req, Res>(log: Logger, name: string, fn: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): Unary<Req, Res> {
  return (call, cb) => {
    fn(call).then(
      (res) => cb(null, res),
      (e) => {
        const fe = toFlotillaError(e);
        if (!isFlotillaError(e) || fe.code === 'Internal') log.error({ err: e, rpc: name }, 'agent call failed');
        else log.info({ rpc: name, code: fe.code, msg: fe.message }, 'agent call refused');
        cb(toGrpcError(fe));
      },
    );
  };
}

/**
 * A server stream fed by a subscription (the pod and service feeds): the
 * caller's node from its certificate, SUBSCRIBE(node, write, restart) opened
 * once, closed when the agent goes away; when the feed starts over the stream
 * ends so the agent reconnects to a fresh snapshot.
 */
function feedStream<Req, Ev>(
  log: Logger,
  what: string,
  subscribe: (node: string, send: (ev: Ev) => void, end: () => void) => Promise<{ close(): void }>,
): (call: grpc.ServerWritableStream<Req, Ev>) => void {
  return (call) => {
    let node: string;
    try {
      node = callerNode(call);
    } catch (e) {
      call.emit('error', toGrpcError(e));
      return;
    }
    let sub: { close(): void } | undefined;
    let done = false;
    const finish = () => {
      done = true;
      sub?.close();
    };
    call.on('cancelled', finish);
    call.on('close', finish);
    subscribe(
      node,
      (ev) => {
        if (!done) call.write(ev);
      },
      () => {
        if (!done) call.end();
        finish();
      },
    ).then(
      (s) => {
        sub = s;
        if (done) s.close();
      },
      (e) => {
        if (done) return;
        log.warn({ err: toFlotillaError(e).message, node }, `${what} watch for node failed`);
        call.emit('error', toGrpcError(e));
      },
    );
  };
}

const iso = rfc3339;

export function bootstrapHandlers(deps: NodeServiceDeps): grpc.UntypedServiceImplementation {
  const clock = deps.clock ?? realClock;
  const log = deps.log;
  return {
    Join: unary<{ token: string; nodeName: string; csrPem: string }, { certificatePem: string; caPem: string; nodePort: number }>(log, 'Join', async (call) => {
      const { token, nodeName, csrPem } = call.request;
      if (!token) throw new UnauthorizedError('a bootstrap token is required');
      const id = /^([a-z0-9]{6})\./.exec(token)?.[1];
      verifyToken(token, id ? await deps.tokens.get(id) : undefined, clock.now());
      validateNodeName(nodeName);
      // A live node of the same name that already has a credential may not be taken over.
      try {
        const existing = await deps.store.get<Node>({ resource: 'nodes', name: nodeName });
        const ready = existing.status?.conditions?.find((c) => c.type === 'Ready');
        if (ready?.status === 'True') {
          throw new ForbiddenError(`node "${nodeName}" already exists and is Ready: delete it first (flotctl delete node ${nodeName}) or pick another --node-name`);
        }
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
      }
      const certificatePem = signNodeCsr(csrPem, nodeName, deps.ca, clock.now());
      log.info({ node: nodeName }, 'node joined: issued its credential');
      return { certificatePem, caPem: deps.ca.certPem, nodePort: deps.nodePort ?? 0 };
    }),
  };
}

export function nodeServiceHandlers(deps: NodeServiceDeps): grpc.UntypedServiceImplementation {
  const { store, log } = deps;
  const podFeed = deps.podFeed ?? new NodePodFeed(store, log);
  const serviceFeed = deps.serviceFeed ?? new NodeServiceFeed(store, log);
  /** Per node, this replica's last heartbeat: the lease's resourceVersion and the status last made sure of. */
  const beats = new Map<string, { leaseRv?: string; statusKey?: string; checkedAt: number; lastBeatAt: number }>();
  const clock = deps.clock ?? realClock;
  const leaseSeconds = deps.leaseDurationSeconds ?? 40;

  async function podOfNode(node: string, ns: string, name: string, uid?: string): Promise<Pod> {
    if (!ns || !name) throw new BadRequestError('pod.namespace and pod.name are required');
    const pod = await store.get<Pod>({ resource: 'pods', namespace: ns, name });
    if (pod.spec.nodeName !== node) throw new ForbiddenError(`node "${node}" may not modify pod ${ns}/${name}: it is not bound to that node`);
    if (uid && pod.metadata.uid !== uid) throw new NotFoundError(`pod ${ns}/${name} with uid ${uid} not found (it was replaced)`);
    return pod;
  }

  return {
    RegisterNode: unary<{ nodeJson: Buffer }, { objectJson: Buffer }>(log, 'RegisterNode', async (call) => {
      const node = callerNode(call);
      const want = parseJson<Node>(call.request.nodeJson, 'node_json');
      if (want.metadata?.name !== node) {
        throw new ForbiddenError(`node "${node}" may only register itself, not "${want.metadata?.name ?? ''}"`);
      }
      let out: Node;
      try {
        out = await store.guaranteedUpdate<Node>({ resource: 'nodes', name: node }, (cur) => ({
          ...cur,
          metadata: { ...cur.metadata, labels: { ...cur.metadata.labels, ...want.metadata.labels } },
          spec: { ...cur.spec, ...(want.spec?.podCIDR ? { podCIDR: want.spec.podCIDR, podCIDRs: [want.spec.podCIDR] } : {}) },
          status: { ...cur.status, ...want.status },
        }));
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
        out = await store.create<Node>('nodes', {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: { name: node, labels: want.metadata.labels ?? {} },
          spec: want.spec ?? {},
          status: want.status ?? {},
        });
        log.info({ node }, 'node registered');
      }
      return { objectJson: toJsonBytes(out) };
    }),

    Heartbeat: unary<{ nodeName: string; statusJson: Buffer }, { leaseDurationSeconds: number }>(log, 'Heartbeat', async (call) => {
      const node = callerNode(call);
      if (call.request.nodeName && call.request.nodeName !== node) {
        throw new ForbiddenError(`node "${node}" may only renew its own lease, not "${call.request.nodeName}"`);
      }
      const now = clock.now();
      const lease: NodeLease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: node, namespace: NODE_LEASE_NAMESPACE },
        spec: { holderIdentity: node, leaseDurationSeconds: leaseSeconds, renewTime: new Date(now).toISOString() },
      };
      const beat = beats.get(node) ?? { checkedAt: 0, lastBeatAt: 0 };
      beats.set(node, beat);
      const gapMs = now - beat.lastBeatAt;
      beat.lastBeatAt = now;
      // A renewal is one compare-and-swap on the lease this replica wrote last; a
      // conflict (another replica, an edit) or a missing lease falls back to read + write.
      let renewed = false;
      if (beat.leaseRv) {
        try {
          beat.leaseRv = (await store.update<NodeLease>('leases', { ...lease, metadata: { ...lease.metadata, resourceVersion: beat.leaseRv } })).metadata.resourceVersion;
          renewed = true;
        } catch (e) {
          if (!(e instanceof ConflictError) && !(e instanceof NotFoundError)) throw e;
        }
      }
      if (!renewed) {
        try {
          beat.leaseRv = (await store.guaranteedUpdate<NodeLease>({ resource: 'leases', namespace: NODE_LEASE_NAMESPACE, name: node }, (cur) => ({ ...cur, spec: lease.spec }))).metadata
            .resourceVersion;
        } catch (e) {
          if (!(e instanceof NotFoundError)) throw e;
          beat.leaseRv = (await store.create('leases', lease)).metadata.resourceVersion;
        }
      }
      if (call.request.statusJson && call.request.statusJson.length > 0) {
        const status = parseJson<NonNullable<Node['status']>>(call.request.statusJson, 'status_json');
        // The status this node reported last time, and nothing could have changed the
        // Node's conditions since (the lifecycle controller marks a node only after a
        // whole grace period without renewals): no need to even read the Node.
        const statusKey = JSON.stringify({ ...status, conditions: status.conditions?.map((c) => [c.type, c.status, c.reason, c.message]) });
        if (beat.statusKey === statusKey && gapMs < (leaseSeconds * 1000) / 2 && now - beat.checkedAt < NODE_STATUS_REFRESH_MS) {
          return { leaseDurationSeconds: leaseSeconds };
        }
        // Liveness is the lease above; the Node itself is written only when its status
        // changed, or every NODE_STATUS_REFRESH_MS to move lastHeartbeatTime (as the
        // kubelet's node status report frequency): 1000 nodes must not mean 100 Node writes/s.
        await store.guaranteedUpdate<Node>({ resource: 'nodes', name: node }, (cur) => {
          const stale = cur.status?.conditions?.some((c) => !c.lastHeartbeatTime || now - Date.parse(c.lastHeartbeatTime) >= NODE_STATUS_REFRESH_MS) ?? true;
          const conditions = (status.conditions ?? cur.status?.conditions ?? []).map((c) => {
            const old = cur.status?.conditions?.find((o) => o.type === c.type);
            const same = old !== undefined && old.status === c.status && old.reason === c.reason && old.message === c.message;
            return {
              ...c,
              lastHeartbeatTime: same && !stale && old.lastHeartbeatTime ? old.lastHeartbeatTime : iso(now),
              lastTransitionTime: old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : iso(now),
            };
          });
          return { ...cur, status: { ...cur.status, ...status, conditions } };
        });
        beat.statusKey = statusKey;
        beat.checkedAt = now;
      }
      return { leaseDurationSeconds: leaseSeconds };
    }),

    WatchPods: feedStream<{ nodeName: string }, { type: string; podJson: Buffer }>(log, 'pod', (node, send, end) =>
      // end: the feed starts over (compaction)
      podFeed.subscribe(
        node,
        (ev) => send(ev.type === 'SYNC' ? { type: 'SYNC', podJson: toJsonBytes({ metadata: { resourceVersion: ev.resourceVersion } }) } : { type: ev.type, podJson: toJsonBytes(ev.pod) }),
        end,
      ),
    ),

    // Read-only and the same for every node: any node credential may watch these two kinds (nothing else).
    WatchServices: feedStream<Record<string, never>, { type: string; resource: string; objectJson: Buffer }>(log, 'service', (_node, send, end) =>
      // end: the feed starts over (a relist)
      serviceFeed.subscribe(
        (ev) =>
          send(
            ev.type === 'SYNC'
              ? { type: 'SYNC', resource: '', objectJson: toJsonBytes({ metadata: { resourceVersion: ev.resourceVersion } }) }
              : { type: ev.type, resource: ev.resource, objectJson: toJsonBytes(ev.object) },
          ),
        end,
      ),
    ),

    UpdatePodStatus: unary<{ pod: { namespace: string; name: string; uid: string }; statusJson: Buffer }, { objectJson: Buffer }>(
      log,
      'UpdatePodStatus',
      async (call) => {
        const node = callerNode(call);
        const ref = call.request.pod ?? { namespace: '', name: '', uid: '' };
        const status = parseJson<PodStatus>(call.request.statusJson, 'status_json');
        // One read-modify-write; the node and uid checks are made on the object it
        // read. It starts from the pod feed's copy (usually current: the agent learnt
        // of the pod from it), which saves the read; a stale copy conflicts and is re-read.
        if (!ref.namespace || !ref.name) throw new BadRequestError('pod.namespace and pod.name are required');
        const feedCopy = podFeed.cached(node, ref.namespace, ref.name);
        // Only a copy of the very pod the agent names may stand in (a refusal is decided on a read).
        const cached = feedCopy && (!ref.uid || feedCopy.metadata.uid === ref.uid) ? feedCopy : undefined;
        const out = await store.guaranteedUpdate<Pod>(
          { resource: 'pods', namespace: ref.namespace, name: ref.name },
          (cur) => {
            if (cur.spec.nodeName !== node) throw new ForbiddenError(`node "${node}" may not modify pod ${ref.namespace}/${ref.name}: it is not bound to that node`);
            if (ref.uid && cur.metadata.uid !== ref.uid) throw new NotFoundError(`pod ${ref.namespace}/${ref.name} with uid ${ref.uid} not found`);
            // Keep conditions the controller owns (PodScheduled) unless the node reports them.
            return { ...cur, status };
          },
          cached ? { cached } : {},
        );
        // The agent gets `out` in the reply: the watch event of this write need not follow it.
        podFeed.expectEcho(node, out);
        return { objectJson: toJsonBytes(out) };
      },
    ),

    ConfirmPodDeleted: unary<{ namespace: string; name: string; uid: string }, Record<string, never>>(log, 'ConfirmPodDeleted', async (call) => {
      const node = callerNode(call);
      const { namespace, name, uid } = call.request;
      let pod: Pod;
      try {
        pod = await podOfNode(node, namespace, name, uid);
      } catch (e) {
        if (e instanceof NotFoundError) return {};
        throw e;
      }
      if (!pod.metadata.deletionTimestamp) throw new ForbiddenError(`pod ${namespace}/${name} is not being deleted`);
      try {
        await store.delete({ resource: 'pods', namespace, name }, { resourceVersion: pod.metadata.resourceVersion });
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
      }
      return {};
    }),

    GetConfigObject: unary<
      { resource: string; namespace: string; name: string; pod?: { namespace: string; name: string; uid: string } | null },
      { objectJson: Buffer }
    >(log, 'GetConfigObject', async (call) => {
      const node = callerNode(call);
      const { resource, namespace, name } = call.request;
      if (!(CONFIG_RESOURCES as readonly string[]).includes(resource)) {
        throw new BadRequestError(`resource must be one of ${CONFIG_RESOURCES.join(', ')}, got "${resource}"`);
      }
      if (!namespace || !name) throw new BadRequestError('namespace and name are required');
      const podRef = call.request.pod;
      if (!podRef?.name) throw new BadRequestError('pod.name is required: the pod bound to this node that references the object');
      const ref: ConfigObjectRef = { resource: resource as ConfigResource, namespace, name };
      if (podRef.namespace && podRef.namespace !== namespace) {
        throw new ForbiddenError(`node "${node}" may not read ${describeConfigRef(ref)} for pod ${podRef.namespace}/${podRef.name}: a pod references objects of its own namespace only`);
      }
      const want = { name: podRef.name, ...(podRef.uid ? { uid: podRef.uid } : {}) };
      // The pod feed's copy (what the agent was sent) may allow; a refusal is decided on a read.
      const cached = podFeed.cached(node, namespace, podRef.name);
      let decision: ReadDecision | undefined = cached ? configReadDecision(node, ref, want, cached) : undefined;
      if (!decision?.allowed) {
        let pod: Pod | undefined;
        try {
          pod = await store.get<Pod>({ resource: 'pods', namespace, name: podRef.name });
        } catch (e) {
          if (!(e instanceof NotFoundError)) throw e;
        }
        decision = configReadDecision(node, ref, want, pod);
      }
      if (!decision.allowed) throw new ForbiddenError(decision.reason);
      // NotFoundError (NOT_FOUND) when it does not exist: the agent tells the pod which object is missing.
      const obj = await store.get({ resource, namespace, name });
      return { objectJson: toJsonBytes(obj) };
    }),

    RecordEvent: unary<{ eventJson: Buffer }, Record<string, never>>(log, 'RecordEvent', async (call) => {
      const node = callerNode(call);
      const ev = parseJson<Event>(call.request.eventJson, 'event_json');
      const ns = ev.involvedObject?.namespace ?? ev.metadata?.namespace ?? 'default';
      const name = `${ev.involvedObject?.name ?? 'node'}.${clock.now().toString(16)}${randomBytes(3).toString('hex')}`;
      const now = new Date(clock.now()).toISOString();
      await store.create<Event>('events', {
        ...ev,
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: ns },
        source: { component: 'flotilla-agent', host: node },
        reportingComponent: 'flotilla-agent',
        count: ev.count ?? 1,
        firstTimestamp: ev.firstTimestamp ?? now,
        lastTimestamp: ev.lastTimestamp ?? now,
        type: ev.type ?? 'Normal',
      });
      return {};
    }),
  };
}
