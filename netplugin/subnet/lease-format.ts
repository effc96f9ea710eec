// Leases as they are stored (etcd) and sent (the agents' gRPC replies, REST):
// `backend: { type, data }`. Leases written before backend data was opaque
// carry `backendType` and `backendData` instead; they are read as the same
// thing, so a cluster keeps its leases (and routes) across the upgrade.
import { isPlainObject } from '../../api/index.js';
import type { LeaseBackend } from './types.js';

/** The fields a lease (or a lease's attributes) may carry its backend in. */
export interface LeaseBackendFields {
  backend?: unknown;
  backendType?: unknown;
  backendData?: unknown;
}

/** The backend part of a lease in either shape (an unknown shape: type ""). */
export function leaseBackendOf(v: LeaseBackendFields): LeaseBackend {
  if (isPlainObject(v.backend) && typeof v.backend.type === 'string') {
    return v.backend.data === undefined ? { type: v.backend.type } : { type: v.backend.type, data: v.backend.data };
  }
  if (typeof v.backendType === 'string') return v.backendData === undefined ? { type: v.backendType } : { type: v.backendType, data: v.backendData };
  return { type: '' };
}

/** `v` in the current shape: `backend` set, the fields of the older shape dropped. */
export function normalizeLeaseBackend<T extends LeaseBackendFields>(v: T): Omit<T, 'backendType' | 'backendData'> & { backend: LeaseBackend } {
  const { backendType: _t, backendData: _d, ...rest } = v;
  return { ...rest, backend: leaseBackendOf(v) };
}
