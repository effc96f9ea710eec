// Builds the API server (fastify) without a socket, so tests drive it with
// inject(); listen.ts serves it over HTTPS. Kubernetes paths and shapes:
// discovery, /api/v1 resources with subresources, watches as JSON lines,
// Tables for kubectl, Status objects for every error.
import type { ServiceWrites } from '../services/index.js';
import { stringify as stringifyYaml } from 'yaml';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  BadRequestError,
  FlotillaError,
  compileSelectors,
  NotFoundError,
  UnauthorizedError,
  UnavailableError,
  REGISTRY,
  podKind,
  realClock,
  silentLogger,
  type Clock,
  type DeleteOptions,
  type KubeObject,
  type Logger,
  type Pod,
  type WatchEvent,
} from '../../api/index.js';
import { MetricsRegistry, type Counter, type Histogram } from '../../api/metrics.js';
import type { Store } from '../storage/store.js';
import type { InformerFactory } from '../informers/index.js';
import type { TokenAuthenticator } from '../pki/tokens.js';
import {
  MAX_BODY_BYTES,
  RequestEntityTooLargeError,
  UnsupportedMediaTypeError,
  parseObjectBody,
  parsePatchBody,
  patchTypeOf,
} from './body.js';
import { EMPTY_OPENAPI_PROTOBUF, apiGroup, apiGroupList, apiVersions, coreResourceList, resourceList, versionInfo } from './discovery.js';
import { ResourceApi, type ExecProvider, type ListQuery, type LogProvider, type Target } from './resource-api.js';
import { EXEC_STDIN_CONTENT_TYPE } from '../../api/exec-framing.js';
import { serveExec } from './exec-route.js';
import { getScale, patchScale, updateScale } from './scale.js';
import { handleUpgrade } from './exec-websocket.js';
import { authorizeNode, forbidNodeOnAdminPath, nodeFromSocket, type Identity } from './authz.js';
import { statusFromError, successStatus } from './status.js';
import { toTable, wantsTable, type IncludeObject } from './table.js';
import type { Admission } from './admission.js';
import { evictPod } from './eviction.js';
import { MAX_HEADER_BYTES, answerAndClose, makeClientErrorHandler, refuseConnect } from './edge.js';
import { cutValue } from '../../api/quote.js';

export interface ApiServerHealth {
  /** etcd answers (for /readyz and the etcd_up gauge). */
  etcdUp?: () => boolean;
  /** This replica holds the leader lease. */
  leader?: () => boolean;
}

export interface ApiServerOptions {
  store: Store;
  /** Mutating admission on create (controller/apiserver/admission.ts). */
  admission?: Admission;
  /** The process's shared informers (namespace checks); default the API server's own. */
  informers?: InformerFactory;
  auth: TokenAuthenticator;
  clock?: Clock;
  log?: Logger;
  metrics?: MetricsRegistry;
  health?: ApiServerHealth;
  logs?: LogProvider;
  /** Runs commands in containers (POST pods/NAME/exec) through the node agents. */
  exec?: ExecProvider;
  /** Served as APIVersions.serverAddressByClientCIDRs. */
  serverAddress?: string;
  /**
   * Serve HTTPS with this certificate (the chain may include the CA). With
   * `clientCa`, client certificates it signed are accepted too: node credentials
   * (CN=system:node:<name>, O=system:nodes), under the node restriction.
   */
  https?: { cert: string; key: string; clientCa?: string };
  /** On close: how long requests in flight may take before connections are cut; default 2 s. */
  closeGraceMs?: number;
  /** Longest watch before the server ends it (clients re-watch), default 30 min. */
  maxWatchSeconds?: number;
  /** How often a watch with allowWatchBookmarks=true gets a BOOKMARK; default 60 s, as kube-apiserver. */
  bookmarkIntervalMs?: number;
  /** More routes behind the same authentication (Flotilla's own /apis/flotilla.io/v1). */
  extraRoutes?: (app: FastifyInstance) => void;
  /** ClusterIP and NodePort allocation from the cluster's ranges; default the default ranges. */
  services?: ServiceWrites;
}

export interface ApiServer {
  app: FastifyInstance;
  api: ResourceApi;
  metrics: MetricsRegistry;
  /** Ends every open watch stream (done by close() too). */
  endWatches(): void;
}

const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz']);

interface RequestInfo {
  verb: string;
  resource: string;
}

type Query = Record<string, string | string[] | undefined>;

function q1(q: Query, name: string): string | undefined {
  const v = q[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

function intParam(q: Query, name: string): number | undefined {
  const v = q1(q, name);
  if (v === undefined || v === '') return undefined;
  if (!/^-?\d{1,18}$/.test(v)) throw new BadRequestError(`invalid ${name} "${cut(v)}": must be an integer`);
  return Number(v);
}

/** A boolean query parameter as Go's strconv.ParseBool reads it (kube-apiserver's rule); 400 for anything else. */
function boolParam(q: Query, name: string): boolean {
  const v = q1(q, name);
  if (v === undefined || v === '' || ['false', '0', 'f', 'F', 'FALSE', 'False'].includes(v)) return false;
  if (['true', '1', 't', 'T', 'TRUE', 'True'].includes(v)) return true;
  throw new BadRequestError(`invalid ${name} "${cut(v)}": must be true or false`);
}

/** A query value quoted in a message: cut to a sane length. */
function cut(v: string): string {
  return cutValue(v, 64);
}

/** A query parameter with a fixed set of values; 400 naming the parameter and the values. */
function enumParam<T extends string>(q: Query, name: string, allowed: readonly T[]): T | undefined {
  const v = q1(q, name);
  if (v === undefined || v === '') return undefined;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new BadRequestError(`${name}: Unsupported value: "${cut(v)}": supported values: ${allowed.map((a) => `"${a}"`).join(', ')}`);
  }
  return v as T;
}

/**
 * Splits the path after `/api/v1/` or `/apis/<group>/<version>/` into a Target;
 * undefined when the path names nothing the registry serves.
 */
export function parseApiPath(segments: string[], gv: { group: string; version: string } = { group: '', version: 'v1' }): (Target & { watchPath: boolean }) | undefined {
  let segs = segments;
  let watchPath = false;
  if (segs[0] === 'watch') {
    watchPath = true;
    segs = segs.slice(1);
  }
  if (segs.length === 0 || segs.some((s) => s === '')) return undefined;
  const byPlural = (p: string | undefined) => (p === undefined ? undefined : REGISTRY.forResource(gv.group, gv.version, p));
  let t: Target;
  let rest: string[];
  const scoped = segs[0] === 'namespaces' && segs.length >= 3 ? byPlural(segs[2]) : undefined;
  if (scoped && scoped.namespaced) {
    t = { res: scoped, namespace: segs[1]! };
    rest = segs.slice(3);
  } else {
    const res = byPlural(segs[0]);
    if (!res) return undefined;
    t = { res };
    rest = segs.slice(1);
    if (res.namespaced && rest.length > 0) return undefined;
  }
  if (rest.length > 2) return undefined;
  if (rest[0] !== undefined) t.name = rest[0];
  if (rest[1] !== undefined) {
    if (!t.res.subresources.includes(rest[1])) return undefined;
    t.subresource = rest[1];
  }
  return { ...t, watchPath };
}

function verbOf(method: string, t: Target, watch: boolean): string {
  if (watch) return 'watch';
  switch (method) {
    case 'GET':
      return t.name === undefined ? 'list' : 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return t.name === undefined ? 'deletecollection' : 'delete';
    default:
      return method.toLowerCase();
  }
}

/** Methods some route serves; any other is answered 405 MethodNotAllowed. */
const SERVED_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** The error for what fastify's router refused before any route ran. */
function frameworkError(err: Error & { code?: string }, req: FastifyRequest): FlotillaError {
  const path = cutValue((req.raw.url ?? '').split('?')[0]!);
  switch (err.code) {
    case 'FST_ERR_BAD_URL':
      return new BadRequestError(`invalid URL escape in the path "${path}"`);
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new BadRequestError(`a segment of the path "${path}" is too long`);
    default:
      return new BadRequestError(`the request could not be routed: ${cutValue(err.message)}`);
  }
}

class MethodNotAllowedError extends FlotillaError {
  constructor(method: string, path: string) {
    super('MethodNotAllowed', `the server does not allow this method on the requested resource (${method} ${path})`);
  }
}

export function buildApiServer(o: ApiServerOptions): ApiServer {
  const clock = o.clock ?? realClock;
  const log = o.log ?? silentLogger();
  const metrics = o.metrics ?? new MetricsRegistry();
  const requests: Counter = metrics.counter('apiserver_request_total', 'API requests by verb, resource and HTTP code.');
  const latency: Histogram = metrics.histogram('apiserver_request_duration_seconds', 'API request latency by verb, resource and code (watches excluded).');
  const watches = new Set<AbortController>();
  const streams = new Set<Promise<void>>();
  metrics.gauge('apiserver_watch_streams', 'Watch streams open now.', () => watches.size);
  metrics.gauge('flotilla_etcd_up', '1 when etcd answers.', () => (o.health?.etcdUp?.() ?? true ? 1 : 0));
  metrics.gauge('flotilla_leader', '1 when this replica holds the leader lease.', () => (o.health?.leader?.() ? 1 : 0));
  const api = new ResourceApi({ store: o.store, clock, log, ...(o.admission ? { admission: o.admission } : {}), ...(o.informers ? { informers: o.informers } : {}), ...(o.logs ? { logs: o.logs } : {}), ...(o.exec ? { exec: o.exec } : {}), ...(o.services ? { services: o.services } : {}) });
  const execs = new Set<AbortController>();
  const maxWatchMs = (o.maxWatchSeconds ?? 1800) * 1000;
  const bookmarkMs = o.bookmarkIntervalMs ?? 60_000;

  // Set once close() begins: new requests get a 503 Status and Connection: close.
  let closing = false;
  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_BODY_BYTES,
    // fastify's own 503 is not a Status: the onRequest hook answers instead
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // a long labelSelector or name is a long path segment: allowed up to the header limit
    routerOptions: { maxParamLength: MAX_HEADER_BYTES },
    // errors of the router (bad percent-encoding), answered as a Status
    frameworkErrors: (err: Error & { code?: string }, req: FastifyRequest, reply: FastifyReply) => sendStatus(reply, frameworkError(err, req)),
    // errors of node's HTTP parser (431, unknown methods, broken request lines)
    clientErrorHandler: makeClientErrorHandler((st) => requests.inc({ verb: '', resource: '', code: st.code ?? 400 })),
    http: { maxHeaderSize: MAX_HEADER_BYTES },
    ...(o.https
      ? {
          https: {
            maxHeaderSize: MAX_HEADER_BYTES,
            cert: o.https.cert,
            key: o.https.key,
            // Ask for a certificate, never require one: users and kubectl come with bearer tokens.
            ...(o.https.clientCa ? { ca: o.https.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
          },
        }
      : {}),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  const info = new WeakMap<FastifyRequest, RequestInfo & { start: bigint }>();
  const identities = new WeakMap<FastifyRequest, Identity>();
  const record = (req: FastifyRequest, code: number) => {
    const i = info.get(req);
    if (!i) return;
    info.delete(req);
    const seconds = Number(process.hrtime.bigint() - i.start) / 1e9;
    requests.inc({ verb: i.verb, resource: i.resource, code });
    if (i.verb !== 'watch') latency.observe(seconds, { verb: i.verb, resource: i.resource, code });
    if (log.isLevelEnabled('debug')) log.debug({ method: req.method, url: req.url, code, ms: Math.round(seconds * 1000) }, 'request');
  };

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  // An exec's stdin is streamed as the command reads it, never buffered whole.
  app.addContentTypeParser(EXEC_STDIN_CONTENT_TYPE, (_req, payload, done) => done(null, payload));

  app.server.on('connect', refuseConnect);

  const sendStatus = (reply: FastifyReply, err: unknown) => {
    const st = statusFromError(err);
    if (st.code >= 500) log.error({ err }, 'request failed');
    // kube-apiserver sends the wait as a header too (clients back off on 429/503/504 with it).
    const wait = st.details?.retryAfterSeconds;
    if (typeof wait === 'number' && [429, 503, 504].includes(st.code)) reply.header('retry-after', String(wait));
    return reply.code(st.code).type('application/json').send(st);
  };

  app.setErrorHandler(async (err: Error & { code?: string; statusCode?: number }, req, reply) => {
    let e: unknown = err;
    if (!(err instanceof FlotillaError)) {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413) {
        e = new RequestEntityTooLargeError();
        // read the rest of the body (up to a bound) before answering, so the client
        // gets the 413 instead of a broken pipe while it is still sending
        if (!(await drainBody(req.raw, 8 * MAX_BODY_BYTES))) {
          // still more coming: answer, say Connection: close, and keep reading while the socket closes
          reply.hijack();
          record(req, 413);
          answerAndClose(req.raw.socket, statusFromError(e));
          req.raw.resume();
          return;
        }
      }
      else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.statusCode === 415) e = new UnsupportedMediaTypeError(err.message);
      else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) e = new BadRequestError(err.message);
    }
    return sendStatus(reply, e);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = cutValue(req.url.split('?')[0]!);
    // a method no route serves (OPTIONS, PROPFIND…) is a 405 wherever it is sent
    if (!SERVED_METHODS.has(req.method)) return sendStatus(reply, new MethodNotAllowedError(req.method, path));
    return sendStatus(reply, new NotFoundError(`the server could not find the requested resource (${req.method} ${path})`));
  });

  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    info.set(req, { verb: req.method.toLowerCase(), resource: '', start: process.hrtime.bigint() });
    if (closing) {
      reply.header('connection', 'close');
      await sendStatus(reply, new UnavailableError('the apiserver is shutting down, please try again later', { retryAfterSeconds: 1 }));
      return reply;
    }
    if (PUBLIC_PATHS.has(path)) return;
    const user = o.auth.authenticate(req.headers.authorization);
    if (user) {
      identities.set(req, { kind: 'admin', user });
      return;
    }
    const node = o.https?.clientCa ? nodeFromSocket(req.raw.socket) : undefined;
    if (!node) {
      await sendStatus(reply, new UnauthorizedError('Unauthorized'));
      return reply;
    }
    identities.set(req, { kind: 'node', user: `system:node:${node}`, node });
    // Only the Kubernetes API (under the node restriction) and discovery are for nodes.
    if (!path.startsWith('/api/') && !['/api', '/apis', '/version', '/metrics', '/openapi/v2'].includes(path)) {
      await sendStatus(reply, forbidNodeOnAdminPath(node, req.method, path));
      return reply;
    }
  });
  app.addHook('onResponse', async (req, reply) => record(req, reply.statusCode));
  // Accept: application/yaml (without JSON) gets the same answer in YAML.
  app.addHook('onSend', async (req, reply, payload) => {
    const accept = req.headers.accept ?? '';
    if (typeof payload !== 'string' || !/application\/yaml/.test(accept) || /application\/json|\*\/\*/.test(accept)) return payload;
    if (!String(reply.getHeader('content-type') ?? '').startsWith('application/json')) return payload;
    reply.type('application/yaml');
    return stringifyYaml(JSON.parse(payload));
  });

  const endWatches = () => {
    for (const w of watches) w.abort();
    for (const x of execs) x.abort();
  };
  app.addHook('preClose', async () => {
    closing = true;
    api.stop();
    endWatches();
    await Promise.allSettled([...streams]);
    // Requests in flight get a moment to finish; then whatever is left (a client that
    // keeps an idle TLS connection open, a half-closed socket) is cut.
    const force = setTimeout(() => app.server.closeAllConnections?.(), o.closeGraceMs ?? 2000);
    force.unref();
  });

  // ------------------------------------------------------------ health, metrics, discovery

  app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok'));
  app.get('/livez', async (_req, reply) => reply.type('text/plain').send('ok'));
  app.get('/readyz', async (_req, reply) => {
    const ok = o.health?.etcdUp?.() ?? true;
    return reply.code(ok ? 200 : 503).type('text/plain').send(ok ? 'ok' : 'etcd is not reachable');
  });
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(metrics.render()));
  app.get('/version', async () => versionInfo());
  app.get('/api', async (req) => apiVersions(o.serverAddress ?? req.headers.host ?? ''));
  app.get('/api/v1', async () => coreResourceList());
  app.get('/apis', async () => apiGroupList());
  app.get<{ Params: { group: string } }>('/apis/:group', async (req) => {
    const g = apiGroup(req.params.group);
    if (!g) throw new NotFoundError(`the server could not find the requested resource (GET /apis/${req.params.group})`);
    return g;
  });
  app.get<{ Params: { group: string; version: string } }>('/apis/:group/:version', async (req) => {
    const { group, version } = req.params;
    if (!REGISTRY.hasGroupVersion(group, version)) throw new NotFoundError(`the server could not find the requested resource (GET /apis/${group}/${version})`);
    return resourceList(group, version);
  });
  app.get('/openapi/v2', async (_req, reply) => reply.type('application/octet-stream').send(EMPTY_OPENAPI_PROTOBUF));

  o.extraRoutes?.(app);

  const trackExec = (ac: AbortController) => {
    execs.add(ac);
    return () => execs.delete(ac);
  };
  // kubectl exec: WebSocket (kubectl 1.30+) is served; other upgrades get a Status.
  app.server.on('upgrade', (req, socket, head) =>
    handleUpgrade({ api, authenticate: (h) => o.auth.authenticate(h) !== undefined, track: trackExec }, req, socket, head),
  );

  // flotctl's exec (plain HTTP). GET too, as Kubernetes allows.
  app.route({
    method: ['GET', 'POST'],
    url: '/api/v1/namespaces/:namespace/pods/:name/exec',
    handler: async (req, reply) => {
      const i = info.get(req);
      if (i) {
        i.verb = 'create';
        i.resource = 'pods/exec';
      }
      // Under the node restriction like every /api path: a node certificate may not exec.
      const who = identities.get(req);
      if (who?.kind === 'node') {
        const { namespace, name } = req.params as { namespace: string; name: string };
        const pods = podKind;
        await authorizeNode(who.node, 'create', { res: pods, namespace, name, subresource: 'exec' }, () => api.get({ res: pods, namespace, name }) as Promise<Pod>);
      }
      await serveExec(api, req, reply, {
        done: record,
        track: trackExec,
      });
    },
  });

  // ------------------------------------------------------------ resources

  const resourceHandler = (prefixOf: (path: string) => { group: string; version: string; rest: string } | undefined) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      const path = req.url.split('?')[0]!;
      const where = prefixOf(path);
      let segments: string[];
      try {
        segments = (where?.rest ?? '').split('/').map(decodeURIComponent);
      } catch {
        throw new BadRequestError(`invalid URL escape in the path "${cutValue(path)}"`);
      }
      const t = where ? parseApiPath(segments, where) : undefined;
      if (!t) throw new NotFoundError(`the server could not find the requested resource (${req.method} ${cutValue(path)})`);
      const query = req.query as Query;
      const watch = t.watchPath || boolParam(query, 'watch');
      const verb = verbOf(req.method, t, watch);
      const i = info.get(req);
      if (i) {
        i.verb = verb;
        i.resource = t.subresource ? `${t.res.plural}/${t.subresource}` : t.res.plural;
      }
      const who = identities.get(req);
      if (who?.kind === 'node') {
        await authorizeNode(who.node, verb, t, () => api.get({ res: t.res, ...(t.namespace !== undefined ? { namespace: t.namespace } : {}), ...(t.name !== undefined ? { name: t.name } : {}) }) as Promise<Pod>);
      }
      const body = req.body as Buffer | undefined;
      const dryRun = enumParam(query, 'dryRun', ['All'] as const) === 'All';
      const table = wantsTable(req.headers.accept);
      const includeObject: IncludeObject = enumParam(query, 'includeObject', ['None', 'Metadata', 'Object'] as const) ?? 'Metadata';
      const listQuery: ListQuery = {};
      const ls = q1(query, 'labelSelector');
      const fs = q1(query, 'fieldSelector');
      const rv = q1(query, 'resourceVersion');
      const rvMatch = q1(query, 'resourceVersionMatch');
      const cont = q1(query, 'continue');
      const limit = intParam(query, 'limit');
      if (ls !== undefined) listQuery.labelSelector = ls;
      if (fs !== undefined) listQuery.fieldSelector = fs;
      if (rv !== undefined) listQuery.resourceVersion = rv;
      if (rvMatch !== undefined && rvMatch !== '') listQuery.resourceVersionMatch = rvMatch;
      if (cont !== undefined && cont !== '') listQuery.continue = cont;
      if (limit !== undefined) {
        if (limit < 0 || !Number.isSafeInteger(limit)) throw new BadRequestError(`invalid limit ${cut(String(limit))}: must be a non-negative integer`);
        listQuery.limit = limit;
      }
      const bookmarks = boolParam(query, 'allowWatchBookmarks');
      const timeoutSeconds = intParam(query, 'timeoutSeconds');
      if (timeoutSeconds !== undefined && timeoutSeconds < 0) throw new BadRequestError(`invalid timeoutSeconds ${timeoutSeconds}: must be a non-negative integer`);
      const notAllowed = () => new MethodNotAllowedError(req.method, cutValue(path));
      const asTable = (objs: KubeObject[], rvOut?: string) =>
        toTable(t.res.kind, objs, { nowMs: clock.now(), includeObject, ...(rvOut ? { resourceVersion: rvOut } : {}) });

      if (watch) {
        if (req.method !== 'GET') throw notAllowed();
        // bad selectors are a plain 400, before the stream starts
        compileSelectors(t.res.kind, { labelSelector: listQuery.labelSelector, fieldSelector: listQuery.fieldSelector });
        if (listQuery.continue !== undefined || listQuery.resourceVersionMatch !== undefined) {
          throw new BadRequestError(`${listQuery.continue !== undefined ? 'continue' : 'resourceVersionMatch'} is forbidden for watch`);
        }
        await api.checkWatchResourceVersion(listQuery.resourceVersion);
        const done = serveWatch(req, reply, t, listQuery, timeoutSeconds, table ? includeObject : undefined, bookmarks);
        streams.add(done);
        return done.finally(() => streams.delete(done));
      }
      if (t.res.namespaced && t.namespace === undefined && (req.method !== 'GET' || t.name !== undefined)) throw notAllowed();

      switch (req.method) {
        case 'GET': {
          if (t.name === undefined) {
            const list = await api.list(t, listQuery);
            return table ? asTable(list.items, list.metadata.resourceVersion) : list;
          }
          if (t.subresource === 'log') {
            const out = await api.podLog(t, Object.fromEntries(Object.keys(query).map((k) => [k, q1(query, k)])));
            if (typeof out === 'string') return reply.type('text/plain').send(out);
            const { Readable } = await import('node:stream');
            return reply.type('text/plain').send(Readable.from(out));
          }
          if (t.subresource === 'binding' || t.subresource === 'eviction') throw notAllowed();
          if (t.subresource === 'scale') return getScale(api, t);
          const obj = await api.get(t);
          return table ? asTable([obj]) : obj;
        }
        case 'POST': {
          if (t.subresource === 'binding') {
            await api.bind(t, parseObjectBody(req.headers['content-type'], body));
            return reply.code(201).send(successStatus(201));
          }
          if (t.subresource === 'eviction') {
            await evictPod({ api, store: o.store, clock }, t, requireBody(parseObjectBody(req.headers['content-type'], body)), (raw) => deleteOptions(raw, query));
            return reply.code(201).send(successStatus(201));
          }
          if (t.name !== undefined) throw notAllowed();
          const created = await api.create(t, requireBody(parseObjectBody(req.headers['content-type'], body)), { dryRun });
          return reply.code(201).send(created);
        }
        case 'PUT': {
          if (t.name === undefined || (t.subresource !== undefined && t.subresource !== 'status' && t.subresource !== 'scale')) throw notAllowed();
          if (t.subresource === 'scale') return updateScale(api, t, requireBody(parseObjectBody(req.headers['content-type'], body)), { dryRun });
          return api.update(t, requireBody(parseObjectBody(req.headers['content-type'], body)), { dryRun });
        }
        case 'PATCH': {
          if (t.name === undefined || (t.subresource !== undefined && t.subresource !== 'status' && t.subresource !== 'scale')) throw notAllowed();
          const type = patchTypeOf(req.headers['content-type']);
          if (t.subresource === 'scale') return patchScale(api, t, type, parsePatchBody(body), { dryRun });
          return api.patch(t, type, parsePatchBody(body), { dryRun });
        }
        case 'DELETE': {
          if (t.subresource !== undefined) throw notAllowed();
          const opts = deleteOptions(parseObjectBody(req.headers['content-type'], body), query);
          if (t.name === undefined) {
            const list = await api.list(t, listQuery);
            const deleted: KubeObject[] = [];
            for (const item of list.items) {
              const one = await api.delete({ ...t, namespace: item.metadata.namespace ?? t.namespace, name: item.metadata.name ?? '' } as Target, opts, { dryRun }).catch(
                (e) => {
                  if (e instanceof FlotillaError && e.code === 'NotFound') return null;
                  throw e;
                },
              );
              if (one) deleted.push(one);
            }
            return { ...list, items: deleted };
          }
          const gone = await api.delete(t, opts, { dryRun: dryRun || (opts.dryRun ?? []).includes('All') });
          // an object kept for its finalizers (or a graceful pod) is answered as it is now
          if (t.res.kind === 'Pod' || !gone || gone.metadata.deletionTimestamp) return gone ?? successStatus();
          return successStatus(200, { name: t.name ?? '', kind: t.res.plural, ...(gone.metadata.uid ? { uid: gone.metadata.uid } : {}) });
        }
        default:
          throw notAllowed();
      }
    };
  const methods: ('GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE')[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
  app.route({ method: methods, url: '/api/v1/*', handler: resourceHandler((p) => ({ group: '', version: 'v1', rest: p.slice('/api/v1/'.length) })) });
  // /apis/<group>/<version>/…: every group the registry serves (Flotilla's own static routes win)
  app.route({
    method: methods,
    url: '/apis/:group/:version/*',
    handler: resourceHandler((p) => {
      const m = /^\/apis\/([^/]+)\/([^/]+)\/(.*)$/.exec(p);
      return m ? { group: m[1]!, version: m[2]!, rest: m[3]! } : undefined;
    }),
  });

  async function serveWatch(
    req: FastifyRequest,
    reply: FastifyReply,
    t: Target,
    q: ListQuery,
    timeoutSeconds: number | undefined,
    table: IncludeObject | undefined,
    bookmarks: boolean,
  ): Promise<void> {
    const ac = new AbortController();
    // BOOKMARK events carry the last revision sent (at first the one asked for, or the store's)
    let lastRv = q.resourceVersion && q.resourceVersion !== '0' ? q.resourceVersion : bookmarks ? await o.store.currentRevision() : '';
    const it = api.watch(t, q, ac.signal);
    let first: IteratorResult<WatchEvent> | undefined;
    let firstError: unknown;
    const firstP = it.next().then(
      (r) => (first = r),
      (e) => (firstError = e ?? new Error('watch failed')),
    );
    watches.add(ac);
    const ms = timeoutSeconds !== undefined && timeoutSeconds > 0 ? Math.min(timeoutSeconds * 1000, maxWatchMs) : maxWatchMs;
    const timer = clock.setTimeout(() => ac.abort(), ms);
    const res = reply.raw;
    reply.hijack();
    res.on('close', () => ac.abort());
    res.on('error', () => ac.abort());
    // connection: close — a watch's connection ends with it, so a server shutting down
    // is not left waiting on a keep-alive socket that went idle after the watch.
    res.writeHead(200, {
      'content-type': 'application/json',
      'cache-control': 'no-cache, private',
      'transfer-encoding': 'chunked',
      connection: 'close',
    });
    res.flushHeaders();
    // Never wait on the store once aborted: a watch stuck in a reconnect must not hold up shutdown.
    const aborted = new Promise<'aborted'>((resolve) => {
      if (ac.signal.aborted) resolve('aborted');
      ac.signal.addEventListener('abort', () => resolve('aborted'), { once: true });
    });
    let sentColumns = false;
    /** Writes one event; resolves at once, or once a slow client drained its buffer. */
    const write = (ev: WatchEvent): Promise<unknown> | undefined => {
      let object: unknown = ev.object;
      if (table !== undefined && ev.type !== 'ERROR' && ev.type !== 'BOOKMARK') {
        object = toTable(t.res.kind, [ev.object], { nowMs: clock.now(), includeObject: table, withColumns: !sentColumns });
        sentColumns = true;
      }
      if (res.destroyed || res.writableEnded) return undefined;
      const evRv = ev.type !== 'ERROR' ? ev.object?.metadata?.resourceVersion : undefined;
      if (evRv) lastRv = evRv;
      if (res.write(`${JSON.stringify({ type: ev.type, object })}\n`)) return undefined;
      return Promise.race([new Promise((resolve) => res.once('drain', resolve)), aborted]);
    };
    let bookmarkTimer: { cancel(): void } | undefined;
    const scheduleBookmark = () => {
      bookmarkTimer = clock.setTimeout(() => {
        if (ac.signal.aborted || res.destroyed) return;
        // a bookmark only when the stream is idle for writing (never between an event's bytes)
        if (res.writableLength === 0) {
          const object = { kind: t.res.kind, apiVersion: t.res.apiVersion, metadata: { resourceVersion: lastRv } };
          res.write(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
        }
        scheduleBookmark();
      }, bookmarkMs);
    };
    if (bookmarks) scheduleBookmark();
    try {
      if ((await Promise.race([firstP, aborted])) === 'aborted') return;
      if (firstError !== undefined) throw firstError;
      if (first && !first.done) await write(first.value);
      while (first && !first.done && !ac.signal.aborted) {
        const r = await Promise.race([it.next(), aborted]);
        if (r === 'aborted' || r.done) break;
        await write(r.value);
      }
    } catch (e) {
      if (!ac.signal.aborted && !res.destroyed) {
        log.debug({ err: (e as Error).message }, 'watch ended with an error');
        res.write(`${JSON.stringify({ type: 'ERROR', object: statusFromError(e) })}\n`);
      }
    } finally {
      timer.cancel();
      bookmarkTimer?.cancel();
      watches.delete(ac);
      ac.abort();
      void it.return?.(undefined).catch(() => undefined);
      record(req, 200);
      if (!res.writableEnded && !res.destroyed) res.end();
    }
  }

  return { app, api, metrics, endWatches };
}

function requireBody(b: unknown): unknown {
  if (b === undefined) throw new BadRequestError('the request has no body: expected an object');
  return b;
}

function deleteOptions(body: unknown, query: Query): DeleteOptions {
  const o: DeleteOptions = {};
  if (body !== undefined) {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('the body of a delete must be a DeleteOptions object');
    Object.assign(o, body);
    if (o.gracePeriodSeconds !== undefined && o.gracePeriodSeconds !== null && typeof o.gracePeriodSeconds !== 'number') {
      throw new BadRequestError('DeleteOptions gracePeriodSeconds must be an integer');
    }
  }
  const grace = intParam(query, 'gracePeriodSeconds');
  if (grace !== undefined) o.gracePeriodSeconds = grace;
  if (o.gracePeriodSeconds === null) delete o.gracePeriodSeconds;
  const pp = q1(query, 'propagationPolicy');
  if (pp !== undefined) {
    if (!['Orphan', 'Background', 'Foreground'].includes(pp)) throw new BadRequestError(`invalid propagationPolicy "${cut(pp)}"`);
    o.propagationPolicy = pp as DeleteOptions['propagationPolicy'];
  }
  const dry = q1(query, 'dryRun');
  if (dry !== undefined) o.dryRun = [dry];
  return o;
}

/**
 * Reads and drops what is left of a request body, at most `maxBytes`; true
 * once the body was read to its end (the connection can serve the next request).
 */
function drainBody(raw: import('node:http').IncomingMessage, maxBytes: number): Promise<boolean> {
  if (raw.complete || raw.readableEnded) return Promise.resolve(true);
  if (raw.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    let seen = 0;
    const done = (ended: boolean) => {
      raw.off('data', onData);
      resolve(ended);
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) done(false);
    };
    raw.on('data', onData);
    raw.once('end', () => done(true));
    raw.once('error', () => done(false));
    raw.once('close', () => done(raw.complete));
    raw.resume();
  });
}
