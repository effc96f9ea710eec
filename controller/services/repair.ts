// The leader's repair loop for Service allocations (kube-apiserver's
// RepairIPAddress and port repair): at start and then every few minutes, the
// allocations are brought in line with the Services — a Service's address or
// port without its allocation gets it back, an allocation no Service holds is
// released once older than its grace period, and a value two Services claim
// (or outside the configured range) is reported as a Warning event on the
// Service, as Kubernetes does, for a human to resolve.
import { componentLogger, type Clock, type Logger, type Service } from '../../api/index.js';
import type { EventRecorder } from '../events/index.js';
import type { Store } from '../storage/store.js';
import type { ServiceAllocator, ServiceHoldings } from './allocator.js';

export interface ServiceRepairOptions {
  store: Store;
  allocator: ServiceAllocator;
  clock: Clock;
  log?: Logger;
  recorder?: EventRecorder;
  /** Between passes. Default 3 min (kube-apiserver's repair interval). */
  intervalMs?: number;
}

/** What a Service holds, as the allocator's repair reads it. */
export function holdingsOf(s: Service): ServiceHoldings {
  const ips = (s.spec?.clusterIPs?.length ? s.spec.clusterIPs : s.spec?.clusterIP ? [s.spec.clusterIP] : []).filter((ip) => ip && ip !== 'None');
  const usesNodePorts = s.spec?.type === 'NodePort' || (s.spec?.type === 'LoadBalancer' && s.spec.allocateLoadBalancerNodePorts !== false);
  const nodePorts = usesNodePorts ? [...new Set((s.spec?.ports ?? []).map((p) => p.nodePort ?? 0).filter((n) => n > 0))] : [];
  return { ref: { namespace: s.metadata.namespace ?? 'default', name: s.metadata.name ?? '' }, ips: s.spec?.type === 'ExternalName' ? [] : ips, nodePorts };
}

export class ServiceRepair {
  private readonly log: Logger;

  constructor(private readonly o: ServiceRepairOptions) {
    this.log = o.log ?? componentLogger('service-repair');
  }

  /** One pass; returns the allocator's report. */
  async once() {
    const services = (await this.o.store.list<Service>('services')).items;
    const report = await this.o.allocator.repair(services.map(holdingsOf));
    for (const p of report.problems) {
      const svc = services.find((s) => s.metadata.namespace === p.ref.namespace && s.metadata.name === p.ref.name);
      this.log.warn({ service: `${p.ref.namespace}/${p.ref.name}`, reason: p.reason }, p.message);
      if (svc) this.o.recorder?.event({ ...svc, apiVersion: 'v1', kind: 'Service' }, 'Warning', p.reason, p.message);
    }
    if (report.restored.length > 0) this.log.warn({ restored: report.restored }, 'restored allocations of Services that had lost them');
    return report;
  }

  async run(signal: AbortSignal): Promise<void> {
    const every = this.o.intervalMs ?? 180_000;
    while (!signal.aborted) {
      try {
        await this.once();
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, 'service allocation repair failed; next pass later');
      }
      await this.o.clock.sleep(every, signal).catch(() => undefined);
    }
  }
}
