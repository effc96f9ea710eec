// The VXLAN backend's data in a lease: the node's VTEP MAC. Only this backend
// reads it; to the lease machinery it is opaque (`backend.data`).
import type { LeaseBackend } from '../../subnet/types.js';

export const VXLAN_BACKEND = 'vxlan';

export interface VxlanBackendData {
  vtepMAC: string;
}

/** The lease backend of a VXLAN node with this VTEP MAC. */
export function vxlanBackend(vtepMAC: string): LeaseBackend {
  return { type: VXLAN_BACKEND, data: { vtepMAC } satisfies VxlanBackendData };
}

/** The VXLAN data of a lease backend; undefined for another backend or data without a MAC string. */
export function vxlanData(backend: LeaseBackend | undefined): VxlanBackendData | undefined {
  if (backend?.type !== VXLAN_BACKEND) return undefined;
  const d = backend.data as { vtepMAC?: unknown } | null | undefined;
  return d && typeof d === 'object' && typeof d.vtepMAC === 'string' ? { vtepMAC: d.vtepMAC } : undefined;
}
