// The resource registry: which kinds exist, their REST names and scope.
// An explicit table, no registration side effects.
import { BadRequestError } from './errors.js';

export interface ResourceInfo {
  /** REST path segment and etcd key segment, e.g. `pods`. */
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  /** Group/version as written in apiVersion; `v1` is the core group. */
  apiVersion: string;
  /** Verbs served for discovery (`/api/v1`). */
  verbs: string[];
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const RESOURCES: readonly ResourceInfo[] = Object.freeze([
  {
    plural: 'pods',
    singular: 'pod',
    kind: 'Pod',
    listKind: 'PodList',
    namespaced: true,
    shortNames: ['po'],
    apiVersion: 'v1',
    verbs: ALL_VERBS,
  },
  {
    plural: 'nodes',
    singular: 'node',
    kind: 'Node',
    listKind: 'NodeList',
    namespaced: false,
    shortNames: ['no'],
    apiVersion: 'v1',
    verbs: ALL_VERBS,
  },
  {
    plural: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    listKind: 'NamespaceList',
    namespaced: false,
    shortNames: ['ns'],
    apiVersion: 'v1',
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  },
  {
    plural: 'events',
    singular: 'event',
    kind: 'Event',
    listKind: 'EventList',
    namespaced: true,
    shortNames: ['ev'],
    apiVersion: 'v1',
    verbs: ALL_VERBS,
  },
].map((r) => Object.freeze({ ...r, shortNames: Object.freeze([...r.shortNames]) as string[], verbs: Object.freeze([...r.verbs]) as string[] })));

/** The core group version every registered kind belongs to. */
export const CORE_API_VERSION = 'v1';

/**
 * Looks a resource up by plural, singular or short name (case-insensitive), as
 * a CLI argument or a URL segment. Returns undefined when unknown.
 */
export function lookupResource(name: string): ResourceInfo | undefined {
  const n = name.toLowerCase();
  return RESOURCES.find((r) => r.plural === n || r.singular === n || r.shortNames.includes(n) || r.kind.toLowerCase() === n);
}

/**
 * The resource for a plural (or singular / short) name; throws
 * BadRequestError `the server doesn't have a resource type "foo"`.
 */
export function resourceFor(plural: string): ResourceInfo {
  const r = lookupResource(plural);
  if (!r) throw new BadRequestError(`the server doesn't have a resource type "${plural}"`);
  return r;
}

/**
 * The resource of a kind in an apiVersion (default v1); throws BadRequestError
 * `no kind "Foo" is registered for version "v1"`.
 */
export function resourceForKind(kind: string, apiVersion: string = CORE_API_VERSION): ResourceInfo {
  const r = RESOURCES.find((x) => x.kind === kind && x.apiVersion === apiVersion);
  if (!r) throw new BadRequestError(`no kind "${kind}" is registered for version "${apiVersion}"`);
  return r;
}

/**
 * Checks the TypeMeta of an incoming body: apiVersion and kind are present and
 * registered. Returns the resource; throws BadRequestError otherwise.
 */
export function resourceForObject(obj: unknown): ResourceInfo {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new BadRequestError('Object is not a JSON or YAML mapping');
  }
  const o = obj as Record<string, unknown>;
  const apiVersion = o.apiVersion;
  const kind = o.kind;
  if (kind === undefined || kind === '') throw new BadRequestError("Object 'Kind' is missing");
  if (typeof kind !== 'string') throw new BadRequestError("Object 'Kind' must be a string");
  if (apiVersion === undefined || apiVersion === '') throw new BadRequestError("Object 'apiVersion' is missing");
  if (typeof apiVersion !== 'string') throw new BadRequestError("Object 'apiVersion' must be a string");
  return resourceForKind(kind, apiVersion);
}
