// What a Service write allocates and releases, as kube-apiserver's Service
// REST storage does around its create, update and delete: the ClusterIP (none
// for headless `None` and ExternalName Services) and a NodePort for every port
// of a NodePort or LoadBalancer Service (ports of one number and different
// protocols share theirs, as in Kubernetes). Values a write needs are taken
// before it is stored (undo() gives them back when the write fails); values it
// no longer needs are given back only after it succeeded (commit()).
import { InternalError, invalidError, type FieldCause } from '../../api/index.js';
import { AllocationError, type ServiceAllocator, type ServiceRef } from './allocator.js';

type Obj = Record<string, unknown>;

interface PortLike {
  name?: string;
  port?: number;
  protocol?: string;
  nodePort?: number;
}

interface SpecLike {
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  ipFamilies?: string[];
  ipFamilyPolicy?: string;
  ports?: PortLike[];
  allocateLoadBalancerNodePorts?: boolean;
}

export interface ServiceWrite {
  /** After the write was stored: give back what the Service no longer holds. */
  commit(): Promise<void>;
  /** The write failed: give back what it took. */
  undo(): Promise<void>;
}

const spec = (o: Obj): SpecLike => (o.spec ?? {}) as SpecLike;
const refOf = (o: Obj): ServiceRef => {
  const md = (o.metadata ?? {}) as { namespace?: string; name?: string };
  return { namespace: md.namespace ?? 'default', name: md.name ?? '' };
};

/** Whether a Service of this spec has a cluster IP of its own. */
export function wantsClusterIP(s: SpecLike): boolean {
  return s.type !== 'ExternalName' && s.clusterIP !== 'None';
}

/** Whether its ports get NodePorts. */
export function wantsNodePorts(s: SpecLike): boolean {
  return s.type === 'NodePort' || (s.type === 'LoadBalancer' && s.allocateLoadBalancerNodePorts !== false);
}

const invalid = (o: Obj, cause: FieldCause) => invalidError('Service', refOf(o).name, [cause]);

export class ServiceWrites {
  constructor(private readonly alloc: ServiceAllocator) {}

  /** The allocator behind these writes (the leader's repair loop uses the same ranges). */
  get allocator(): ServiceAllocator {
    return this.alloc;
  }

  /**
   * A create: takes the requested or a free ClusterIP and NodePorts and writes
   * them (and the single-stack IPv4 family fields) into OBJ, a private copy.
   * Throws an InvalidError naming the field when a value cannot be had.
   */
  async create(obj: Obj, dryRun: boolean): Promise<ServiceWrite> {
    return this.write(obj, undefined, dryRun);
  }

  /** An update from OLD: keeps what OLD held unless the new spec gives it up, takes what is new. */
  async update(next: Obj, old: Obj, dryRun: boolean): Promise<ServiceWrite> {
    return this.write(next, old, dryRun);
  }

  /** The Service is gone: its ClusterIP and NodePorts go back. */
  async deleted(obj: Obj): Promise<void> {
    const s = spec(obj);
    const ref = refOf(obj);
    for (const ip of ipsOf(s)) await this.alloc.releaseIP(ref, ip);
    for (const p of new Set((s.ports ?? []).map((x) => x.nodePort ?? 0).filter((n) => n > 0))) await this.alloc.releaseNodePort(ref, p);
  }

  private async write(obj: Obj, old: Obj | undefined, dryRun: boolean): Promise<ServiceWrite> {
    const s = spec(obj);
    const before = old ? spec(old) : undefined;
    const ref = refOf(obj);
    const takenIPs: string[] = [];
    const takenPorts: number[] = [];
    const undo = async () => {
      if (dryRun) return;
      for (const ip of takenIPs) await this.alloc.releaseIP(ref, ip).catch(() => undefined);
      for (const p of takenPorts) await this.alloc.releaseNodePort(ref, p).catch(() => undefined);
    };
    try {
      // ---- the cluster IP
      const oldIPs = before ? ipsOf(before) : [];
      if (wantsClusterIP(s)) {
        if (oldIPs.length > 0 && before && wantsClusterIP(before)) {
          // kept: an update that leaves clusterIP out carries the old one (validation refuses a change)
          s.clusterIP ??= oldIPs[0];
          if (s.clusterIP === '') s.clusterIP = oldIPs[0];
        } else {
          const ip = await this.takeIP(obj, ref, s.clusterIP, dryRun);
          if (!dryRun) takenIPs.push(ip);
          s.clusterIP = ip;
        }
        s.clusterIPs = [s.clusterIP!];
      } else if (s.type === 'ExternalName') {
        delete s.clusterIP;
        delete s.clusterIPs;
      } else {
        s.clusterIPs = ['None'];
      }
      if (s.type !== 'ExternalName') {
        s.ipFamilies ??= ['IPv4'];
        s.ipFamilyPolicy ??= 'SingleStack';
      } else {
        delete s.ipFamilies;
        delete s.ipFamilyPolicy;
      }

      // ---- node ports
      const oldPorts = before && wantsNodePorts(before) ? (before.ports ?? []) : [];
      const held = new Set(oldPorts.map((p) => p.nodePort ?? 0).filter((n) => n > 0));
      const keep = new Set<number>();
      if (wantsNodePorts(s)) {
        const byNumber = new Map<number, number>(); // service port → node port, shared across protocols
        const ports = s.ports ?? [];
        // first the ports that name theirs (kept or requested), then the rest
        for (const [i, p] of ports.entries()) {
          if (!p.nodePort) continue;
          if (!held.has(p.nodePort) && !keep.has(p.nodePort)) {
            await this.takePort(obj, ref, p.nodePort, `spec.ports[${i}].nodePort`, dryRun);
            if (!dryRun) takenPorts.push(p.nodePort);
          }
          keep.add(p.nodePort);
          if (p.port !== undefined) byNumber.set(p.port, p.nodePort);
        }
        for (const [i, p] of ports.entries()) {
          if (p.nodePort) continue;
          // an update that leaves nodePort out keeps the one the same port had
          const same = oldPorts.find((o) => o.port === p.port && (o.protocol ?? 'TCP') === (p.protocol ?? 'TCP') && o.nodePort && !keep.has(o.nodePort));
          const shared = p.port !== undefined ? byNumber.get(p.port) : undefined;
          if (same?.nodePort) p.nodePort = same.nodePort;
          else if (shared !== undefined) p.nodePort = shared;
          else {
            p.nodePort = await this.takePort(obj, ref, undefined, `spec.ports[${i}].nodePort`, dryRun);
            if (!dryRun) takenPorts.push(p.nodePort);
          }
          keep.add(p.nodePort);
          if (p.port !== undefined) byNumber.set(p.port, p.nodePort);
        }
      } else {
        for (const p of s.ports ?? []) delete p.nodePort;
      }
      const keptIPs = new Set(ipsOf(s));
      return {
        commit: async () => {
          if (dryRun) return;
          for (const ip of oldIPs) if (!keptIPs.has(ip)) await this.alloc.releaseIP(ref, ip);
          for (const p of held) if (!keep.has(p)) await this.alloc.releaseNodePort(ref, p);
        },
        undo,
      };
    } catch (e) {
      await undo();
      throw e;
    }
  }

  private async takeIP(obj: Obj, ref: ServiceRef, requested: string | undefined, dryRun: boolean): Promise<string> {
    try {
      return await this.alloc.allocateIP(ref, requested, dryRun);
    } catch (e) {
      if (!(e instanceof AllocationError)) throw e;
      // kube-apiserver's words: the requested value is a field error, a full range an internal one
      if (!requested) throw new InternalError(`Internal error occurred: failed to allocate a serviceIP: ${e.detail}`);
      throw invalid(obj, { reason: 'FieldValueInvalid', field: 'spec.clusterIPs', message: `Invalid value: []string{${JSON.stringify(requested)}}: ${e.detail}` });
    }
  }

  private async takePort(obj: Obj, ref: ServiceRef, requested: number | undefined, field: string, dryRun: boolean): Promise<number> {
    try {
      return await this.alloc.allocateNodePort(ref, requested, dryRun);
    } catch (e) {
      if (!(e instanceof AllocationError)) throw e;
      if (requested === undefined) throw new InternalError(`Internal error occurred: failed to allocate a nodePort: ${e.detail}`);
      throw invalid(obj, { reason: 'FieldValueInvalid', field, message: `Invalid value: ${requested}: ${e.detail}` });
    }
  }
}

function ipsOf(s: SpecLike): string[] {
  const ips = s.clusterIPs && s.clusterIPs.length > 0 ? s.clusterIPs : s.clusterIP ? [s.clusterIP] : [];
  return ips.filter((ip) => ip !== '' && ip !== 'None');
}
