// The REST semantics of every resource, independent of HTTP: create, get,
// list, update, patch, delete (graceful for pods), bindings, status updates and
// watches over a Store. Errors are typed with Kubernetes' wording; the HTTP
// layer only maps them (status.ts).
import { randomBytes } from 'node:crypto';
import { cutValue, plainValue } from '../../api/quote.js';
import {
  AlreadyExistsError,
  BadRequestError,
  ConflictError,
  FlotillaError,
  ForbiddenError,
  GoneError,
  TimeoutError,
  NotFoundError,
  REGISTRY,
  UnavailableError,
  applyJsonMergePatch,
  applyJsonPatch,
  applyStrategicMergePatch,
  assertValid,
  compileSelectors,
  deepClone,
  defaultObject,
  dns1123SubdomainErrors,
  FieldErrors,
  invalidError,
  isPlainObject,
  jsonEqual,
  mergeKeysOf,
  rfc3339,
  type Binding,
  type Clock,
  type DeleteOptions,
  type KubeList,
  type KubeObject,
  type Logger,
  type Namespace,
  type Pod,
  type ResourceInfo,
  type WatchEvent,
} from '../../api/index.js';
import type { ObjectKey, Store } from '../storage/store.js';
import { storagePrefix } from '../storage/keys.js';
import { applyBinding } from '../scheduler/binder.js';
import { NamespaceCache } from './namespace-cache.js';
import type { InformerFactory } from '../informers/index.js';
import type { Admission } from './admission.js';
import { ServiceAllocator, ServiceWrites } from '../services/index.js';
import { parseCidr } from '../../netplugin/cidr.js';

/** The service CIDR and NodePort range when the cluster config names none (as kube-apiserver's defaults). */
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/16';
export const DEFAULT_NODE_PORT_RANGE = { min: 30000, max: 32767 };

/** What a URL names: a collection, an object, or an object's subresource. */
export interface Target {
  res: ResourceInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
}

export type PatchType = 'merge' | 'strategic' | 'json';

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  /** `NotOlderThan` (default with a resourceVersion) or `Exact`. */
  resourceVersionMatch?: string;
  /** Page size; absent or 0: everything. */
  limit?: number;
  /** The token of the previous page. */
  continue?: string;
}

/** The 410 answer for a continue token whose revision was compacted (Kubernetes' wording). */
export const CONTINUE_EXPIRED_MESSAGE =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.';

interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

/** A continue token: the next key (below the resource's prefix) and the revision of the first page, as Kubernetes encodes them. */
export function encodeContinue(prefix: string, key: string, revision: string): string {
  const t: ContinueToken = { v: 'meta.k8s.io/v1', rv: Number(revision), start: key.slice(prefix.length) };
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

/** The key and revision of a continue token; 400 `continue key is not valid: …` when it is not one of ours. */
export function decodeContinue(prefix: string, token: string): { key: string; revision: string } {
  const bad = (why: string) => new BadRequestError(`continue key is not valid: ${why}`);
  let t: unknown;
  try {
    if (!/^[A-Za-z0-9_\-+/=]+$/.test(token)) throw new Error('not base64');
    t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw bad('the token is not base64-encoded JSON');
  }
  if (!isPlainObject(t) || t.v !== 'meta.k8s.io/v1') throw bad('unknown version of the continue token');
  if (typeof t.rv !== 'number' || !Number.isSafeInteger(t.rv) || t.rv <= 0) throw bad('incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  if (typeof t.start !== 'string' || t.start === '') throw bad('encoded start key is missing');
  // the key stays below the prefix: no `..` segments, no absolute path
  if (t.start.startsWith('/') || t.start.split('/').some((seg) => seg === '..' || seg === '.')) throw bad('encoded start key is not a relative path');
  return { key: `${prefix}${t.start}`, revision: String(t.rv) };
}

/** A resourceVersion query parameter as a revision; 400 when it is not a decimal number. */
export function parseResourceVersion(rv: string): bigint {
  if (!/^\d{1,30}$/.test(rv)) throw new BadRequestError(`invalid resource version "${rv}": must be a decimal number`);
  return BigInt(rv);
}

export interface WriteOptions {
  dryRun?: boolean;
}

/** Namespaces that exist from the start and may not be deleted. */
export const SYSTEM_NAMESPACES = ['default', 'kube-system'];
const MAX_CAS_RETRIES = 16;
/** The finalizers of the deletion propagation policies, as Kubernetes names them. */
export const FOREGROUND_FINALIZER = 'foregroundDeletion';
export const ORPHAN_FINALIZER = 'orphan';

/** Produces pod log output once the node agents serve it; absent until then. */
export type LogProvider = (pod: Pod, query: Record<string, string | undefined>) => Promise<AsyncIterable<Uint8Array> | string>;

/** POST pods/NAME/exec, parsed. */
export interface ExecOptions {
  /** Absent: the pod's only container. */
  container?: string;
  command: string[];
  /** The command's stdin; absent: empty. */
  stdin?: AsyncIterable<Uint8Array>;
  tty?: boolean;
  /** Aborted when the client goes away: the command's session ends. */
  signal?: AbortSignal;
}

/** Output of an exec; `exitCode` comes last, once. */
export type ExecEvent = { stream: 'stdout' | 'stderr'; data: Uint8Array } | { exitCode: number };

/**
 * Runs a command in a container of the pod through its node agent. Resolves once
 * the agent has started it (errors before that are the HTTP answer); failures
 * after that are thrown by the iteration.
 */
export type ExecProvider = (pod: Pod, opts: ExecOptions) => Promise<AsyncIterable<ExecEvent>>;

export { rfc3339 };

function notFound(res: ResourceInfo, name: string): NotFoundError {
  return new NotFoundError(`${res.plural} "${cutValue(name)}" not found`, { name, kind: res.plural });
}

function conflict(res: ResourceInfo, name: string): ConflictError {
  return new ConflictError(
    `Operation cannot be fulfilled on ${res.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, kind: res.plural },
  );
}

function isCode(e: unknown, code: string): boolean {
  return e instanceof FlotillaError && e.code === code;
}

function objectKey(t: Target, name = t.name ?? ''): ObjectKey {
  return t.res.namespaced ? { resource: t.res.plural, namespace: t.namespace ?? '', name } : { resource: t.res.plural, name };
}

export interface ResourceApiOptions {
  store: Store;
  /** The process's shared informers (the namespace check reads the namespaces one); default its own. */
  informers?: InformerFactory;
  clock: Clock;
  log: Logger;
  logs?: LogProvider;
  exec?: ExecProvider;
  /** Mutating admission on create (controller/apiserver/admission.ts); default none. */
  admission?: Admission;
  /** ClusterIP and NodePort allocation of Services; default one over `store` with the default ranges. */
  services?: ServiceWrites;
}

export class ResourceApi {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly namespaces: NamespaceCache;
  private stopped = false;
  logs: LogProvider | undefined;
  exec: ExecProvider | undefined;
  readonly admission: Admission | undefined;
  readonly services: ServiceWrites;

  constructor(o: ResourceApiOptions) {
    this.admission = o.admission;
    this.services =
      o.services ??
      new ServiceWrites(new ServiceAllocator({ store: o.store, serviceCidr: parseCidr(DEFAULT_SERVICE_CIDR), nodePorts: DEFAULT_NODE_PORT_RANGE, clock: o.clock, log: o.log }));
    this.store = o.store;
    this.clock = o.clock;
    this.log = o.log;
    this.logs = o.logs;
    this.exec = o.exec;
    this.namespaces = new NamespaceCache(o.store, o.clock, o.log, o.informers);
  }

  // ------------------------------------------------------------ reads

  async get(t: Target): Promise<KubeObject> {
    try {
      return await this.store.get(objectKey(t));
    } catch (e) {
      throw isCode(e, 'NotFound') ? notFound(t.res, t.name ?? '') : e;
    }
  }

  /**
   * A list, whole or in pages (`limit`, `continue`), with Kubernetes'
   * resourceVersion semantics: none or "0" reads the latest state; with
   * NotOlderThan (the default) a revision the store has not reached yet is a
   * 504 "Too large resource version"; Exact reads that very revision (410 once
   * compacted). Every page of a paged list reads the first page's revision.
   */
  async list(t: Target, q: ListQuery): Promise<KubeList> {
    const filter = compileSelectors(t.res.kind, { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector });
    const namespace = t.res.namespaced && t.namespace !== undefined ? t.namespace : undefined;
    const prefix = storagePrefix(t.res.plural, namespace);
    const rv = q.resourceVersion ?? '';
    const match = q.resourceVersionMatch ?? '';
    if (match !== '' && match !== 'NotOlderThan' && match !== 'Exact') {
      throw new BadRequestError(`invalid resourceVersionMatch "${match}": supported values: "Exact", "NotOlderThan"`);
    }
    if (match !== '' && rv === '') throw new BadRequestError('resourceVersionMatch is forbidden unless resourceVersion is provided');
    if (q.continue !== undefined && q.continue !== '' && rv !== '' && rv !== '0') {
      throw new BadRequestError('specifying resource version is not allowed when using continue');
    }
    if (match === 'Exact' && rv === '0') throw new BadRequestError('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"');
    if (q.limit !== undefined && (!Number.isSafeInteger(q.limit) || q.limit < 0)) throw new BadRequestError(`invalid limit ${q.limit}: must be a non-negative integer`);
    let revision: string | undefined;
    if (rv !== '' && rv !== '0') {
      const want = parseResourceVersion(rv);
      if (match === 'Exact') revision = want.toString();
      else await this.requireRevision(want);
    }
    const continueFrom = q.continue ? decodeContinue(prefix, q.continue) : undefined;
    let r;
    try {
      r = await this.store.list<KubeObject>(t.res.plural, {
        ...(namespace !== undefined ? { namespace } : {}),
        ...(filter ? { filter } : {}),
        ...(q.limit ? { limit: q.limit } : {}),
        ...(continueFrom ? { continueFrom } : {}),
        ...(revision !== undefined ? { revision } : {}),
      });
    } catch (e) {
      if (continueFrom && isCode(e, 'Gone')) throw new GoneError(CONTINUE_EXPIRED_MESSAGE);
      throw e;
    }
    const metadata: KubeList['metadata'] & { remainingItemCount?: number } = { resourceVersion: r.resourceVersion };
    if (r.next) {
      metadata.continue = encodeContinue(prefix, r.next.key, r.next.revision);
      if (r.remaining !== undefined) metadata.remainingItemCount = r.remaining;
    }
    return { kind: t.res.listKind, apiVersion: t.res.apiVersion, metadata, items: r.items };
  }

  /** Checks a watch's resourceVersion before its stream starts: 400 when malformed, 504 when the store has not reached it. */
  async checkWatchResourceVersion(rv: string | undefined): Promise<void> {
    if (rv !== undefined && rv !== '' && rv !== '0') await this.requireRevision(parseResourceVersion(rv));
  }

  /** 504 `Too large resource version` when the store has not reached `want` (as kube-apiserver answers). */
  private async requireRevision(want: bigint): Promise<void> {
    const current = BigInt(await this.store.currentRevision());
    if (want > current) {
      throw new TimeoutError(`Timeout: Too large resource version: ${want}, current: ${current}`, {
        causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version', field: '' }],
        retryAfterSeconds: 1,
      });
    }
  }

  /**
   * Watch events after q.resourceVersion; without one (or "0"), the current
   * objects first as ADDED, then changes. Throws GoneError for a compacted revision.
   */
  async *watch(t: Target, q: ListQuery, signal: AbortSignal): AsyncGenerator<WatchEvent> {
    const filter = compileSelectors(t.res.kind, { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector });
    const namespace = t.res.namespaced ? t.namespace : undefined;
    let rv = q.resourceVersion;
    if (t.name !== undefined) {
      // /watch/namespaces/ns/pods/name: a field selector on the name
      const byName = (o: KubeObject) => o.metadata.name === t.name && (!filter || filter(o));
      yield* this.watchFrom(t, namespace, rv, byName, signal);
      return;
    }
    yield* this.watchFrom(t, namespace, rv, filter, signal);
  }

  private async *watchFrom(
    t: Target,
    namespace: string | undefined,
    rv: string | undefined,
    filter: ((o: KubeObject) => boolean) | undefined,
    signal: AbortSignal,
  ): AsyncGenerator<WatchEvent> {
    if (rv !== undefined && rv !== '' && rv !== '0') await this.requireRevision(parseResourceVersion(rv));
    if (rv === undefined || rv === '' || rv === '0') {
      const r = await this.store.list<KubeObject>(t.res.plural, {
        ...(namespace !== undefined ? { namespace } : {}),
        ...(filter ? { filter } : {}),
      });
      for (const o of r.items) yield { type: 'ADDED', object: o };
      rv = r.resourceVersion;
    }
    yield* this.store.watch<KubeObject>(t.res.plural, {
      ...(namespace !== undefined ? { namespace } : {}),
      resourceVersion: rv,
      ...(filter ? { filter } : {}),
      signal,
    });
  }

  // ------------------------------------------------------------ create

  /**
   * Checks the TypeMeta and scope of a body against the URL. A body without
   * apiVersion and kind takes them from the URL, as kube-apiserver does; a
   * different kind is a 400 naming both.
   */
  private checkBody(t: Target, body: unknown): KubeObject & Record<string, unknown> {
    if (!isPlainObject(body)) throw new BadRequestError('Object is not a JSON or YAML mapping');
    const o = body as KubeObject & Record<string, unknown>;
    const kind = o.kind;
    const apiVersion = o.apiVersion;
    if (kind !== undefined && kind !== '' && typeof kind !== 'string') throw new BadRequestError("Object 'Kind' must be a string");
    if (apiVersion !== undefined && apiVersion !== '' && typeof apiVersion !== 'string') throw new BadRequestError("Object 'apiVersion' must be a string");
    if (kind === undefined || kind === '') o.kind = t.res.kind;
    if (apiVersion === undefined || apiVersion === '') o.apiVersion = t.res.apiVersion;
    // a kind the server does not know is named as such, before the mismatch
    if (!REGISTRY.forKind(String(o.apiVersion), String(o.kind))) {
      throw new BadRequestError(`no kind "${plainValue(o.kind)}" is registered for version "${plainValue(o.apiVersion)}"`);
    }
    if (o.kind !== t.res.kind || o.apiVersion !== t.res.apiVersion) {
      throw new BadRequestError(
        `the object's kind ${String(o.apiVersion)}, Kind=${String(o.kind)} does not match the kind ${t.res.apiVersion}, Kind=${t.res.kind} of the resource "${t.res.plural}" on the URL`,
      );
    }
    if (o.metadata === undefined || o.metadata === null) o.metadata = {};
    if (!isPlainObject(o.metadata)) throw new BadRequestError('metadata must be an object');
    if (t.res.namespaced) {
      const ns = o.metadata.namespace;
      if (ns !== undefined && ns !== '' && ns !== t.namespace) {
        throw new BadRequestError(`the namespace of the provided object (${plainValue(ns)}) does not match the namespace sent on the request (${plainValue(t.namespace)})`);
      }
      o.metadata.namespace = t.namespace;
    } else {
      delete o.metadata.namespace;
    }
    return o;
  }

  /** Throws 404 `namespaces "x" not found`, or 403 when it is terminating. */
  private async requireNamespace(t: Target, name: string): Promise<void> {
    if (!t.res.namespaced) return;
    let ns = this.namespaces.get(t.namespace ?? '');
    if (!ns) {
      try {
        ns = await this.store.get<Namespace>({ resource: 'namespaces', name: t.namespace ?? '' });
      } catch (e) {
        if (isCode(e, 'NotFound')) throw new NotFoundError(`namespaces "${cutValue(t.namespace ?? '')}" not found`, { name: t.namespace, kind: 'namespaces' });
        throw e;
      }
    }
    if (ns.status?.phase === 'Terminating' || ns.metadata.deletionTimestamp) {
      throw new ForbiddenError(
        `${t.res.plural} "${name}" is forbidden: unable to create new content in namespace ${t.namespace} because it is being terminated`,
      );
    }
  }

  /** The object as it will be stored by a create (defaulted, validated). */
  prepareCreate(t: Target, body: unknown): KubeObject {
    const o = this.checkBody(t, deepClone(body));
    const md = o.metadata;
    if ((md.name === undefined || md.name === '') && typeof md.generateName === 'string' && md.generateName !== '') {
      md.name = `${md.generateName}${randomSuffix()}`;
    }
    for (const k of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const) delete md[k];
    md.generation = 1;
    const obj = defaultObject(o) as KubeObject & Record<string, unknown>;
    t.res.strategy.prepareForCreate?.(obj);
    this.admission?.admitCreate(t.res.kind, obj);
    assertValid(obj);
    return obj;
  }

  async create(t: Target, body: unknown, opts: WriteOptions = {}): Promise<KubeObject> {
    const obj = this.prepareCreate(t, body);
    const name = obj.metadata.name ?? '';
    await this.requireNamespace(t, name);
    if (opts.dryRun) {
      const exists = await this.store.get(objectKey(t, name)).then(
        () => true,
        () => false,
      );
      if (exists) throw new AlreadyExistsError(`${t.res.plural} "${cutValue(name)}" already exists`, { name, kind: t.res.plural });
      if (isServices(t)) await this.services.create(obj as never, true);
      return obj;
    }
    // a Service takes its ClusterIP and NodePorts before it is stored, and gives them back if that fails
    const taken = isServices(t) ? await this.services.create(obj as never, false) : undefined;
    try {
      const stored = await this.store.create(t.res.plural, obj);
      await taken?.commit();
      return stored;
    } catch (e) {
      await taken?.undo();
      if (isCode(e, 'AlreadyExists')) throw new AlreadyExistsError(`${t.res.plural} "${cutValue(name)}" already exists`, { name, kind: t.res.plural });
      throw e;
    }
  }

  // ------------------------------------------------------------ update, patch

  /** The object an update of `old` with `body` stores (subresource `status` changes only status). */
  prepareUpdate(t: Target, body: unknown, old: KubeObject): KubeObject {
    const o = this.checkBody(t, deepClone(body));
    const md = o.metadata;
    if (md.name !== t.name) {
      throw new BadRequestError(`the name of the object (${plainValue(md.name ?? '')}) does not match the name on the URL (${plainValue(t.name)})`);
    }
    const rv = md.resourceVersion;
    const oldObj = old as unknown as Record<string, unknown>;
    let next: KubeObject & Record<string, unknown>;
    if (t.subresource === 'status') {
      next = deepClone(old) as KubeObject & Record<string, unknown>;
      next.status = o.status;
      // labels and annotations may ride along with a status update
      if (md.labels !== undefined) next.metadata.labels = md.labels;
      if (md.annotations !== undefined) next.metadata.annotations = md.annotations;
    } else {
      next = defaultObject(o) as KubeObject & Record<string, unknown>;
      if (t.res.subresources.includes('status')) {
        // with a status subresource, the main resource never writes status
        if (oldObj.status === undefined) delete next.status;
        else next.status = deepClone(oldObj.status);
      }
      t.res.strategy.prepareForUpdate?.(next, oldObj);
      this.admission?.admitUpdate(t.res.kind, next);
      // generation counts changes of everything but metadata and status
      const changed = Object.keys({ ...oldObj, ...next }).some(
        (k) => k !== 'metadata' && k !== 'status' && k !== 'apiVersion' && k !== 'kind' && !jsonEqual(oldObj[k], next[k]),
      );
      if (changed) next.metadata.generation = (old.metadata.generation ?? 1) + 1;
      else if (old.metadata.generation !== undefined) next.metadata.generation = old.metadata.generation;
    }
    const nmd = next.metadata;
    nmd.uid = old.metadata.uid;
    nmd.creationTimestamp = old.metadata.creationTimestamp;
    for (const k of ['deletionTimestamp', 'deletionGracePeriodSeconds'] as const) {
      if (old.metadata[k] === undefined) delete nmd[k];
      else (nmd as Record<string, unknown>)[k] = old.metadata[k];
    }
    if (old.metadata.deletionTimestamp) {
      const before = new Set(old.metadata.finalizers ?? []);
      const added = (nmd.finalizers ?? []).filter((f) => !before.has(f));
      if (added.length > 0) {
        throw new ForbiddenError(
          `${t.res.plural} "${t.name}" is forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
        );
      }
    }
    if (typeof rv === 'string' && rv !== '') nmd.resourceVersion = rv;
    else nmd.resourceVersion = old.metadata.resourceVersion;
    // a stale resourceVersion is a conflict before anything else, as in kube-apiserver
    if (nmd.resourceVersion !== old.metadata.resourceVersion) throw conflict(t.res, t.name ?? '');
    assertValid(next, old);
    return next;
  }

  /**
   * Whether a write of `next` completes a deletion: the object has a
   * deletionTimestamp and no finalizers are left (and, for a graceful delete,
   * nothing else holds it — a pod still bound waits for its agent).
   */
  private completesDeletion(t: Target, next: KubeObject): boolean {
    const md = next.metadata;
    if (!md.deletionTimestamp || (md.finalizers ?? []).length > 0) return false;
    // the kind may still hold it (a pod until its node confirms, a namespace until it is empty)
    return t.res.strategy.deletionDone?.(next as unknown as Record<string, unknown>) ?? true;
  }

  /**
   * A compare-and-swap read-modify-write: `build(current)` makes the new object;
   * when it carries a resourceVersion other than the current one the write
   * fails with 409, when it carries the current one a lost race is retried.
   */
  private async casUpdate(t: Target, build: (current: KubeObject) => KubeObject, opts: WriteOptions, pinnedRv?: string): Promise<KubeObject> {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.get(t);
      const next = build(cur);
      const want = next.metadata.resourceVersion;
      if (pinnedRv !== undefined && pinnedRv !== cur.metadata.resourceVersion) throw conflict(t.res, t.name ?? '');
      if (want !== cur.metadata.resourceVersion) throw conflict(t.res, t.name ?? '');
      const removing = this.completesDeletion(t, next) && (cur.metadata.finalizers ?? []).length > 0;
      // a Service's spec update takes new ClusterIP/NodePorts first and gives back the old ones after
      const taken = isServices(t) && t.subresource !== 'status' && !removing ? await this.services.update(next as never, cur as never, opts.dryRun === true) : undefined;
      if (opts.dryRun) return next;
      try {
        if (removing) {
          // the last finalizer is gone: the object goes, as a CAS on the revision just read
          await this.store.delete(objectKey(t), { resourceVersion: cur.metadata.resourceVersion ?? '' });
          if (isServices(t)) await this.services.deleted(cur as never);
          this.log.debug({ resource: t.res.plural, namespace: t.namespace, name: t.name }, 'finalizers done: object removed');
          return next;
        }
        const stored = await this.store.update(t.res.plural, next);
        await taken?.commit();
        return stored;
      } catch (e) {
        await taken?.undo();
        if (isCode(e, 'NotFound')) throw notFound(t.res, t.name ?? '');
        if (!isCode(e, 'Conflict')) throw e;
        if (pinnedRv !== undefined || attempt >= MAX_CAS_RETRIES) throw conflict(t.res, t.name ?? '');
      }
    }
  }

  async update(t: Target, body: unknown, opts: WriteOptions = {}): Promise<KubeObject> {
    const md = isPlainObject(body) && isPlainObject(body.metadata) ? body.metadata : {};
    const pinned = typeof md.resourceVersion === 'string' && md.resourceVersion !== '' ? md.resourceVersion : undefined;
    return this.casUpdate(t, (cur) => this.prepareUpdate(t, body, cur), opts, pinned);
  }

  async patch(t: Target, type: PatchType, patch: unknown, opts: WriteOptions = {}): Promise<KubeObject> {
    if (type !== 'json' && !isPlainObject(patch)) throw new BadRequestError('the patch must be a JSON object');
    let pinned: string | undefined;
    if (isPlainObject(patch) && isPlainObject(patch.metadata) && typeof patch.metadata.resourceVersion === 'string') {
      pinned = patch.metadata.resourceVersion;
    }
    return this.casUpdate(
      t,
      (cur) => {
        const base = deepClone(cur);
        const patched =
          type === 'merge' ? applyJsonMergePatch(base, patch) : type === 'strategic' ? applyStrategicMergePatch(base, patch, mergeKeysOf(t.res.kind)) : applyJsonPatch(base, patch);
        if (!isPlainObject(patched)) throw new BadRequestError('the patched object is not a JSON object');
        const pmd = isPlainObject(patched.metadata) ? patched.metadata : {};
        if (pinned === undefined && type === 'json') {
          // a JSON patch may also set the resourceVersion
          if (typeof pmd.resourceVersion === 'string' && pmd.resourceVersion !== cur.metadata.resourceVersion) throw conflict(t.res, t.name ?? '');
        }
        pmd.resourceVersion = pinned ?? cur.metadata.resourceVersion;
        return this.prepareUpdate(t, patched, cur);
      },
      opts,
      pinned,
    );
  }

  // ------------------------------------------------------------ delete

  /**
   * DELETE: preconditions, then the propagation policy and the object's
   * finalizers decide whether it goes now or is marked (deletionTimestamp) for
   * the controllers that finish it (the garbage collector for Foreground and
   * Orphan, the namespace controller, a node's agent for a graceful pod).
   * Returns the object as stored (marked) or as it was last (removed).
   */
  async delete(t: Target, o: DeleteOptions, opts: WriteOptions = {}): Promise<KubeObject | null> {
    const policy = o.propagationPolicy;
    if (policy !== undefined && policy !== 'Background' && policy !== 'Foreground' && policy !== 'Orphan') {
      throw new BadRequestError(`invalid propagationPolicy "${plainValue(policy)}": must be one of Background, Foreground, Orphan`);
    }
    if (o.gracePeriodSeconds !== undefined && o.gracePeriodSeconds < 0) {
      throw new BadRequestError(`gracePeriodSeconds must not be negative, got ${o.gracePeriodSeconds}`);
    }
    for (let attempt = 0; ; attempt++) {
      const cur = await this.get(t);
      const pre = o.preconditions;
      if (pre?.uid && pre.uid !== cur.metadata.uid) {
        throw new ConflictError(`Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${cur.metadata.uid ?? ''}`, {
          name: t.name,
          kind: t.res.plural,
        });
      }
      if (pre?.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion) {
        throw new ConflictError(
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion ?? ''}`,
          { name: t.name, kind: t.res.plural },
        );
      }
      try {
        const now = this.clock.now();
        // the kind's own say first: a graceful pod, a terminating namespace
        // A pod bound to a node that no longer exists has no agent to confirm its
        // end: it goes at once, as the pod garbage collector would remove it.
        const vanished = t.res.plural === 'pods' && !t.res.group && Boolean((cur as Pod).spec?.nodeName) && !(await this.nodeExists((cur as Pod).spec!.nodeName!));
        const grace = vanished ? 0 : o.gracePeriodSeconds;
        const decision = t.res.strategy.delete?.(cur as unknown as Record<string, unknown>, { gracePeriodSeconds: grace }, now) ?? {};
        let next = (decision.mark ?? cur) as KubeObject;
        const finalizers = [...(cur.metadata.finalizers ?? [])];
        const want = policy === 'Foreground' ? FOREGROUND_FINALIZER : policy === 'Orphan' ? ORPHAN_FINALIZER : undefined;
        const drop = policy === 'Foreground' ? ORPHAN_FINALIZER : policy === 'Orphan' ? FOREGROUND_FINALIZER : undefined;
        let nextFinalizers = finalizers.filter((f) => f !== drop);
        if (want && !nextFinalizers.includes(want)) nextFinalizers = [...nextFinalizers, want];
        const changedFinalizers = !jsonEqual(nextFinalizers, finalizers);
        if (nextFinalizers.length === 0 && !decision.mark) {
          // nothing holds it: it goes now (dependents are the garbage collector's, Background)
          if (opts.dryRun) return cur;
          const removed = await this.store.delete(objectKey(t), { resourceVersion: cur.metadata.resourceVersion ?? '' });
          if (isServices(t)) await this.services.deleted(removed as never);
          return removed;
        }
        if (nextFinalizers.length > 0 && (changedFinalizers || !cur.metadata.deletionTimestamp || decision.mark)) {
          next = next === cur ? deepClone(cur) : next;
          next.metadata.finalizers = nextFinalizers;
          next.metadata.deletionTimestamp ??= rfc3339(now);
          next.metadata.deletionGracePeriodSeconds ??= 0;
        }
        if (next === cur) return cur; // already being deleted: nothing changes
        if (opts.dryRun) return next;
        return await this.store.update(t.res.plural, next);
      } catch (e) {
        if (isCode(e, 'NotFound')) throw notFound(t.res, t.name ?? '');
        if (!isCode(e, 'Conflict') || attempt >= MAX_CAS_RETRIES) throw e;
      }
    }
  }

  /** Creates the system namespaces and starts the namespace cache. */
  async bootstrap(): Promise<void> {
    this.namespaces.start();
    for (const name of SYSTEM_NAMESPACES) {
      try {
        await this.store.create<Namespace>('namespaces', {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name, labels: { 'kubernetes.io/metadata.name': name } },
          spec: { finalizers: ['kubernetes'] },
          status: { phase: 'Active' },
        });
        this.log.info({ namespace: name }, 'created system namespace');
      } catch (e) {
        if (!isCode(e, 'AlreadyExists')) throw e;
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.namespaces.stop();
  }

  // ------------------------------------------------------------ subresources

  /** POST pods/NAME/binding: sets spec.nodeName once (409 when already bound). */
  async bind(t: Target, body: unknown): Promise<void> {
    if (!isPlainObject(body) || (body.kind !== undefined && body.kind !== 'Binding')) {
      throw new BadRequestError('the body of a binding must be a Binding object');
    }
    const b = body as unknown as Binding;
    const nodeName = b.target?.name;
    if (typeof nodeName !== 'string' || nodeName === '') {
      throw new BadRequestError('Binding target.name: Required value: the node to bind to');
    }
    if (b.target.kind !== undefined && b.target.kind !== '' && b.target.kind !== 'Node') {
      throw new BadRequestError(`Binding target.kind must be Node, not ${b.target.kind}`);
    }
    const md = isPlainObject(b.metadata) ? b.metadata : {};
    if (md.name !== undefined && md.name !== t.name) {
      throw new BadRequestError(`the name of the binding (${plainValue(md.name)}) does not match the pod on the URL (${plainValue(t.name)})`);
    }
    if (md.namespace !== undefined && md.namespace !== '' && md.namespace !== t.namespace) {
      throw new BadRequestError(`the namespace of the binding (${plainValue(md.namespace)}) does not match the namespace sent on the request (${plainValue(t.namespace)})`);
    }
    // A binding names a node that exists (kube-apiserver leaves that to the kubelet,
    // whose absence would leave the pod undeletable and unpatchable here).
    const fe = new FieldErrors();
    fe.rule('target.name', nodeName, dns1123SubdomainErrors(nodeName));
    if (fe.causes.length === 0 && !(await this.nodeExists(nodeName))) fe.notFound('target.name', nodeName);
    if (fe.causes.length > 0) throw invalidError('Binding', t.name ?? '', fe.causes);
    const podTarget: Target = { res: t.res, ...(t.namespace !== undefined ? { namespace: t.namespace } : {}), ...(t.name !== undefined ? { name: t.name } : {}) };
    await this.casUpdate(
      podTarget,
      (cur) =>
        applyBinding(
          cur as Pod,
          { namespace: t.namespace ?? '', name: t.name ?? '', nodeName, ...(b.metadata?.uid ? { uid: b.metadata.uid } : {}) },
          this.clock.now(),
        ),
      {},
    );
  }

  private async nodeExists(name: string): Promise<boolean> {
    return this.store.get({ resource: 'nodes', name }).then(
      () => true,
      (e: unknown) => {
        if (isCode(e, 'NotFound')) return false;
        throw e;
      },
    );
  }

  /** GET pods/NAME/log: through the log provider once the agents serve logs. */
  async podLog(t: Target, query: Record<string, string | undefined>): Promise<AsyncIterable<Uint8Array> | string> {
    const pod = (await this.get(t)) as Pod;
    const name = t.name ?? '';
    if (!pod.spec?.nodeName) throw new BadRequestError(`pod ${name} does not have a host assigned`);
    const containers = pod.spec.containers ?? [];
    const c = query.container;
    if (c !== undefined && c !== '' && !containers.some((x) => x.name === c)) {
      throw new BadRequestError(`container ${c} is not valid for pod ${name}`);
    }
    if ((c === undefined || c === '') && containers.length > 1) {
      throw new BadRequestError(
        `a container name must be specified for pod ${name}, choose one of: [${containers.map((x) => x.name).join(' ')}]`,
      );
    }
    if (!this.logs) {
      throw new UnavailableError(
        `logs of pod ${name} on node ${pod.spec.nodeName} are not available: this controller has no log path to the node agent yet`,
      );
    }
    return this.logs(pod, query);
  }

  /** POST pods/NAME/exec: through the exec provider (the node agent's stream port). */
  async podExec(t: Target, opts: ExecOptions): Promise<AsyncIterable<ExecEvent>> {
    const pod = (await this.get(t)) as Pod;
    const name = t.name ?? '';
    if (opts.command.length === 0) throw new BadRequestError('you must specify at least one command for the container');
    if (!pod.spec?.nodeName) throw new BadRequestError(`pod ${name} does not have a host assigned`);
    if (!this.exec) {
      throw new UnavailableError(`cannot exec in pod ${name} on node ${pod.spec.nodeName}: this controller has no exec path to the node agent`);
    }
    return this.exec(pod, opts);
  }
}

/** The core Services resource, whose writes allocate (see controller/services/). */
function isServices(t: Target): boolean {
  return t.res.plural === 'services' && t.res.group === '';
}

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  const bytes = randomBytes(5);
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
}
