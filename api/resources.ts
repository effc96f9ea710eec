// Lookups over the kind registry (kinds/index.ts): by name, by kind, by body.
import { BadRequestError } from './errors.js';
import type { KindDescriptor } from './kind.js';
import { REGISTRY } from './kinds/index.js';

/** What the API machinery knows of a kind (the descriptor of api/kinds/). */
export type ResourceInfo = KindDescriptor;

/** The core group version. */
export const CORE_API_VERSION = 'v1';

export { REGISTRY };

/**
 * Looks a resource up by plural, singular or short name (case-insensitive), as
 * a CLI argument or a URL segment. Returns undefined when unknown.
 */
export function lookupResource(name: string): ResourceInfo | undefined {
  return REGISTRY.lookup(name);
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
  const r = REGISTRY.forKind(apiVersion, kind);
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

/** The kind of a typed object (apiVersion + kind) when registered, else undefined. */
export function kindOf(obj: unknown): ResourceInfo | undefined {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return undefined;
  const o = obj as Record<string, unknown>;
  if (typeof o.kind !== 'string') return undefined;
  return REGISTRY.forKind(typeof o.apiVersion === 'string' && o.apiVersion !== '' ? o.apiVersion : CORE_API_VERSION, o.kind);
}
