// Key layout in etcd (see store.ts) and the Kubernetes-worded messages of the
// storage errors. Pure functions, unit-tested.
import { keyFor, type ObjectKey } from './store.js';
import { BadRequestError, type KubeObject } from '../../api/index.js';
import { cutValue } from '../../api/quote.js';

export const KEY_ROOT = '/flotilla/';

/** Key prefix of one resource (all namespaces), or of one namespace of it; always ends in `/`. */
export function prefixFor(resource: string, namespace?: string): string {
  return namespace === undefined || namespace === '' ? `${KEY_ROOT}${resource}/` : `${KEY_ROOT}${resource}/${namespace}/`;
}

/** The key of a stored object, from its resource and metadata. */
export function keyOfObject(resource: string, obj: KubeObject): ObjectKey {
  const ns = obj.metadata.namespace;
  const name = obj.metadata.name ?? '';
  return ns ? { resource, namespace: ns, name } : { resource, name };
}

export { keyFor };

function checkSegment(what: string, v: string): void {
  if (v === '') throw new BadRequestError(`${what} is required`);
  if (v.includes('/') || v.includes('\0')) throw new BadRequestError(`invalid ${what} "${v}": may not contain "/"`);
}

/** keyFor, refusing names that would escape their place in the key layout (empty, or with "/"). */
export function storageKey(k: ObjectKey): string {
  checkSegment('resource', k.resource);
  if (k.namespace !== undefined) checkSegment('namespace', k.namespace);
  checkSegment('name', k.name);
  return keyFor(k);
}

/** prefixFor with the same checks as storageKey. */
export function storagePrefix(resource: string, namespace?: string): string {
  checkSegment('resource', resource);
  if (namespace) checkSegment('namespace', namespace);
  return prefixFor(resource, namespace);
}

/** The exclusive end of the key range holding every key that starts with `prefix`. */
export function rangeEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i]! += 1;
      return end;
    }
  }
  return Buffer.from([0]); // all keys
}

export function alreadyExistsMessage(resource: string, name: string): string {
  return `${resource} "${cutValue(name)}" already exists`;
}

export function notFoundMessage(resource: string, name: string): string {
  return `${resource} "${cutValue(name)}" not found`;
}

export function conflictMessage(resource: string, name: string): string {
  return `Operation cannot be fulfilled on ${resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`;
}

export function goneMessage(requested: string | number, compacted: string | number): string {
  return `too old resource version: ${requested} (${compacted})`;
}

/** RFC3339 with second precision, as Kubernetes writes timestamps. */
export { rfc3339 } from '../../api/clock.js';
