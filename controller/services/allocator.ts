// ClusterIPs and NodePorts of Services, allocated in etcd so that no address
// or port is ever handed out twice, by any controller replica: each one taken
// is an object of its own, created with create-if-absent (the store's create),
// named by the value and pointing at the Service that holds it — as
// Kubernetes' IPAddress objects (networking.k8s.io/v1) do:
//   /flotilla/ipaddresses/10.96.0.10        {spec.parentRef: {resource: services, namespace, name}}
//   /flotilla/servicenodeports/30080         {spec.parentRef: …}
// A Service write allocates before it is stored and releases what it no longer
// uses after; a crash in between leaves an allocation without its Service,
// which repair() (run by the leader at start and then periodically) releases
// once it is older than a grace period, and repair() also recreates the
// allocation of a Service found without one.
import { AlreadyExistsError, NotFoundError, type Clock, type KubeObject, type Logger } from '../../api/index.js';
import { formatIPv4, parseIPv4, type Cidr } from '../../netplugin/cidr.js';
import type { Store } from '../storage/store.js';
import { candidates, ipBand, ipOutOfRange, portBand, portOutOfRange, type Band } from './ranges.js';

export const IP_RESOURCE = 'ipaddresses';
export const NODEPORT_RESOURCE = 'servicenodeports';

export interface ServiceRef {
  namespace: string;
  name: string;
}

interface Allocation extends KubeObject {
  spec: { parentRef: { group: string; resource: string; namespace: string; name: string } };
}

/** An allocation refused, with kube-apiserver's detail ("provided IP is already allocated"). */
export class AllocationError extends Error {
  constructor(readonly detail: string) {
    super(detail);
    this.name = 'AllocationError';
  }
}

/** What a Service holds, as repair reads it. */
export interface ServiceHoldings {
  ref: ServiceRef;
  ips: string[];
  nodePorts: number[];
}

export interface RepairReport {
  /** Allocations recreated for Services found without one. */
  restored: string[];
  /** Allocations released because no Service holds them. */
  released: string[];
  /** Values two Services claim, or outside the range: left alone, reported. */
  problems: { ref: ServiceRef; message: string; reason: 'ClusterIPAlreadyAllocated' | 'ClusterIPOutOfRange' | 'PortAlreadyAllocated' | 'PortOutOfRange' }[];
}

export interface ServiceAllocatorOptions {
  store: Store;
  serviceCidr: Cidr;
  nodePorts: { min: number; max: number };
  clock: Clock;
  log: Logger;
  /** Where dynamic allocation starts (0 ≤ x < 1); Math.random by default. */
  random?: () => number;
  /** An allocation without a Service is released by repair only when older than this (a write in flight). Default 60 s. */
  leakGraceMs?: number;
}

const sameRef = (a: Allocation['spec']['parentRef'] | undefined, b: ServiceRef) => a?.resource === 'services' && a.namespace === b.namespace && a.name === b.name;

/** One kind of value (addresses or ports) and how it is stored. */
class Pool {
  /** Values known to be taken (ours and others'), so dynamic allocation does not retry them. */
  private readonly known = new Set<number>();
  private loaded = false;

  constructor(
    private readonly o: ServiceAllocatorOptions,
    readonly resource: string,
    readonly band: Band,
    readonly format: (n: number) => string,
    private readonly kind: string,
    /** How repair's messages name a value (`Cluster IP`, `Port`) and the range it must be in. */
    readonly label: string,
    readonly range: string,
    /** Why a value cannot be had by range, or undefined. */
    readonly outOfRange: (n: number) => string | undefined,
  ) {}

  private object(n: number, ref: ServiceRef): Allocation {
    return {
      apiVersion: this.resource === IP_RESOURCE ? 'networking.k8s.io/v1' : 'flotilla.io/v1',
      kind: this.kind,
      metadata: { name: this.format(n) },
      spec: { parentRef: { group: '', resource: 'services', namespace: ref.namespace, name: ref.name } },
    };
  }

  /** Takes N for REF; false when it is held already (by REF too: the caller asked for a value it holds). */
  async take(n: number, ref: ServiceRef): Promise<boolean> {
    try {
      await this.o.store.create(this.resource, this.object(n, ref));
      this.known.add(n);
      return true;
    } catch (e) {
      if (!(e instanceof AlreadyExistsError) && (e as { code?: string }).code !== 'AlreadyExists') throw e;
      this.known.add(n);
      return false;
    }
  }

  async holder(n: number): Promise<Allocation | undefined> {
    try {
      return await this.o.store.get<Allocation>({ resource: this.resource, name: this.format(n) });
    } catch (e) {
      if (e instanceof NotFoundError || (e as { code?: string }).code === 'NotFound') return undefined;
      throw e;
    }
  }

  async list(): Promise<Allocation[]> {
    return (await this.o.store.list<Allocation>(this.resource)).items;
  }

  private async load(): Promise<void> {
    if (this.loaded) return;
    for (const a of await this.list()) {
      const n = this.parse(a.metadata.name ?? '');
      if (n !== undefined) this.known.add(n);
    }
    this.loaded = true;
  }

  parse(s: string): number | undefined {
    try {
      return this.resource === IP_RESOURCE ? parseIPv4(s) : /^\d{1,5}$/.test(s) ? Number(s) : undefined;
    } catch {
      return undefined;
    }
  }

  /** A free value for REF: the upper band first from a random start, then the static band. */
  async any(ref: ServiceRef, dryRun: boolean): Promise<number> {
    await this.load();
    for (const n of candidates(this.band, (this.o.random ?? Math.random)())) {
      if (this.known.has(n)) continue;
      if (dryRun) {
        if (!(await this.holder(n))) return n;
        this.known.add(n);
        continue;
      }
      if (await this.take(n, ref)) return n;
    }
    throw new AllocationError('range is full');
  }

  /** Gives N back if REF holds it (never another Service's). */
  async release(n: number, ref: ServiceRef): Promise<void> {
    const a = await this.holder(n);
    if (!a || !sameRef(a.spec?.parentRef, ref)) return;
    try {
      await this.o.store.delete({ resource: this.resource, name: this.format(n) }, { resourceVersion: a.metadata.resourceVersion ?? '' });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'NotFound' && code !== 'Conflict') throw e;
      return;
    }
    this.known.delete(n);
  }

  forget(n: number): void {
    this.known.delete(n);
  }

  remember(n: number): void {
    this.known.add(n);
  }
}

export class ServiceAllocator {
  private readonly ips: Pool;
  private readonly ports: Pool;

  constructor(private readonly o: ServiceAllocatorOptions) {
    const cidr = `${formatIPv4(o.serviceCidr.base)}/${o.serviceCidr.prefix}`;
    const ports = `${o.nodePorts.min}-${o.nodePorts.max}`;
    this.ips = new Pool(o, IP_RESOURCE, ipBand(o.serviceCidr), formatIPv4, 'IPAddress', 'Cluster IP', cidr, (n) => ipOutOfRange(o.serviceCidr, formatIPv4(n)));
    this.ports = new Pool(o, NODEPORT_RESOURCE, portBand(o.nodePorts.min, o.nodePorts.max), String, 'ServiceNodePort', 'Port', ports, (n) =>
      portOutOfRange(o.nodePorts.min, o.nodePorts.max, n),
    );
  }

  get serviceCidr(): string {
    return this.ips.range;
  }

  get nodePortRange(): string {
    return this.ports.range;
  }

  /** REQUESTED (checked: in range, free), or any free address. Dry run: the answer without taking it. */
  async allocateIP(ref: ServiceRef, requested: string | undefined, dryRun = false): Promise<string> {
    if (requested === undefined || requested === '') return formatIPv4(await this.ips.any(ref, dryRun));
    const why = ipOutOfRange(this.o.serviceCidr, requested);
    if (why) throw new AllocationError(why);
    const n = parseIPv4(requested);
    const free = dryRun ? !(await this.ips.holder(n)) : await this.ips.take(n, ref);
    if (!free) throw new AllocationError(`failed to allocate IP ${requested}: provided IP is already allocated`);
    return formatIPv4(n);
  }

  /** REQUESTED (checked: in range, free), or any free port. */
  async allocateNodePort(ref: ServiceRef, requested: number | undefined, dryRun = false): Promise<number> {
    if (requested === undefined || requested === 0) return this.ports.any(ref, dryRun);
    const why = portOutOfRange(this.o.nodePorts.min, this.o.nodePorts.max, requested);
    if (why) throw new AllocationError(why);
    const free = dryRun ? !(await this.ports.holder(requested)) : await this.ports.take(requested, ref);
    if (!free) throw new AllocationError('provided port is already allocated');
    return requested;
  }

  async releaseIP(ref: ServiceRef, ip: string): Promise<void> {
    const n = this.ips.parse(ip);
    if (n !== undefined) await this.ips.release(n, ref);
  }

  async releaseNodePort(ref: ServiceRef, port: number): Promise<void> {
    await this.ports.release(port, ref);
  }

  /**
   * Brings the allocations in line with the Services: a Service's value
   * without its allocation gets it back, an allocation no Service holds (and
   * older than the grace period) is released, a value two Services claim or
   * one outside the range is reported (and kept: deleting either Service
   * fixes it). The Services are read by the caller, before the allocations,
   * so an allocation made meanwhile is within its grace period.
   */
  async repair(services: ServiceHoldings[]): Promise<RepairReport> {
    const report: RepairReport = { restored: [], released: [], problems: [] };
    for (const [pool, values, taken, outside] of [
      [this.ips, (h: ServiceHoldings) => h.ips.map((ip) => this.ips.parse(ip)), 'ClusterIPAlreadyAllocated', 'ClusterIPOutOfRange'],
      [this.ports, (h: ServiceHoldings) => h.nodePorts, 'PortAlreadyAllocated', 'PortOutOfRange'],
    ] as const) {
      const existing = new Map<number, Allocation>();
      for (const a of await pool.list()) {
        const n = pool.parse(a.metadata.name ?? '');
        if (n !== undefined) existing.set(n, a);
      }
      const claimed = new Map<number, ServiceRef>();
      for (const s of services) {
        for (const n of values(s)) {
          if (n === undefined) continue;
          const shown = pool.format(n);
          const prev = claimed.get(n);
          if (prev && (prev.namespace !== s.ref.namespace || prev.name !== s.ref.name)) {
            report.problems.push({ ref: s.ref, reason: taken, message: `${pool.label} ${shown} was assigned to multiple services; please recreate service` });
            continue;
          }
          claimed.set(n, s.ref);
          const a = existing.get(n);
          if (a) {
            if (!sameRef(a.spec?.parentRef, s.ref)) {
              report.problems.push({ ref: s.ref, reason: taken, message: `${pool.label} ${shown} is held by ${a.spec?.parentRef?.namespace}/${a.spec?.parentRef?.name}; please recreate service` });
            }
            continue;
          }
          if (pool.outOfRange(n)) {
            report.problems.push({ ref: s.ref, reason: outside, message: `${pool.label} ${shown} is not within the configured range ${pool.range}; please recreate service` });
            continue;
          }
          if (await pool.take(n, s.ref)) report.restored.push(`${pool.resource}/${shown}`);
        }
      }
      const now = this.o.clock.now();
      for (const [n, a] of existing) {
        if (claimed.has(n)) continue;
        const born = Date.parse(a.metadata.creationTimestamp ?? '');
        if (Number.isFinite(born) && now - born < (this.o.leakGraceMs ?? 60_000)) continue;
        const parent = a.spec?.parentRef;
        if (parent) await pool.release(n, { namespace: parent.namespace, name: parent.name });
        else {
          await this.o.store.delete({ resource: pool.resource, name: pool.format(n) }, { resourceVersion: a.metadata.resourceVersion ?? '' }).catch(() => undefined);
          pool.forget(n);
        }
        report.released.push(`${pool.resource}/${pool.format(n)}`);
        this.o.log.info({ allocation: `${pool.resource}/${pool.format(n)}`, service: parent ? `${parent.namespace}/${parent.name}` : undefined }, 'released an allocation no Service holds');
      }
      for (const n of claimed.keys()) pool.remember(n);
    }
    return report;
  }
}
