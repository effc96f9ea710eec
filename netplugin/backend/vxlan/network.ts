// The VXLAN backend's run loop: lease batches (from the LeaseTracker) become
// route/neighbour/FDB operations on the device, and a periodic reconcile is the
// guarantee — events only speed things up. The reconcile re-creates the device
// if it went away, re-adds missing entries and removes entries no lease calls
// for. All kernel work for one host is serialized, so a batch and a reconcile
// never interleave.
import { componentLogger, FlotillaError, realClock, type Clock, type Logger, type Timer } from '../../../api/index.js';
import { rtnl, type RtnetlinkClient } from '../../netlink/index.js';
import { LeaseTracker } from '../../subnet/watcher.js';
import type { LeaseBatch, LeaseWatchResult, SubnetLease } from '../../subnet/types.js';
import { ensureVxlanDevice, setVxlanDeviceSubnet, type VxlanDevice, type VxlanDeviceConfig } from './device.js';
import { desiredEntries, diffOverlay, isEmptyPlan, planBatch, type OverlayEntries, type OverlayPlan } from './reconcile.js';

export interface VxlanNetworkOptions {
  /** rtnetlink client of the host namespace. */
  host: RtnetlinkClient;
  device: VxlanDeviceConfig;
  log?: Logger;
  clock?: Clock;
  /** Period of the reconcile; default 10 s. */
  reconcileMs?: number;
}

export interface ApplyResult {
  applied: number;
  failed: number;
}

const ZERO_MAC = '00:00:00:00:00:00';

function isNotFound(e: unknown): boolean {
  return e instanceof FlotillaError && e.code === 'NotFound';
}

export class VxlanNetwork {
  private dev!: VxlanDevice;
  private subnet?: string;
  private tracker?: LeaseTracker;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly reconcileMs: number;
  private chain: Promise<unknown> = Promise.resolve();
  private timer?: Timer;
  private stopped = false;
  private firstSync!: () => void;
  /** Resolves once a lease watch result (the first is the snapshot) has been carried out. */
  readonly synced: Promise<void> = new Promise((resolve) => (this.firstSync = resolve));

  private constructor(private readonly o: VxlanNetworkOptions) {
    this.log = o.log ?? componentLogger('vxlan');
    this.clock = o.clock ?? realClock;
    this.reconcileMs = o.reconcileMs ?? 10_000;
  }

  /** Ensures the device (so its MAC is known before the lease is acquired). */
  static async create(o: VxlanNetworkOptions): Promise<VxlanNetwork> {
    const n = new VxlanNetwork(o);
    n.dev = await ensureVxlanDevice(o.host, o.device, n.log);
    return n;
  }

  get device(): VxlanDevice {
    return this.dev;
  }

  /** Sets this node's subnet (the device's .0/32); the own lease is never routed to. */
  async setSubnet(subnet: string): Promise<void> {
    await this.serial(async () => {
      this.subnet = subnet;
      this.tracker = new LeaseTracker(subnet);
      await setVxlanDeviceSubnet(this.o.host, this.dev, subnet);
    });
  }

  /** Remote leases as currently known. */
  leases(): SubnetLease[] {
    return this.tracker?.leases() ?? [];
  }

  /** One watch result: tracked, turned into a batch, carried out. */
  async handle(result: LeaseWatchResult): Promise<ApplyResult> {
    if (!this.tracker) throw new FlotillaError('Internal', 'vxlan network: setSubnet must come before lease events');
    const batch = this.tracker.apply(result);
    return this.handleBatch(batch);
  }

  async handleBatch(batch: LeaseBatch): Promise<ApplyResult> {
    const plan = planBatch(batch);
    return this.serial(() => this.apply(plan, 'lease batch'));
  }

  /** Makes the kernel match the known leases: device, address, routes, neighbours, FDB. */
  async reconcile(): Promise<ApplyResult> {
    return this.serial(async () => {
      const link = await this.o.host.linkFind(this.dev.name);
      if (!link || link.kind !== 'vxlan' || link.index !== this.dev.index || !link.up) {
        this.log.warn({ device: this.dev.name, found: link ? `${link.kind ?? 'device'} #${link.index}${link.up ? '' : ' down'}` : 'nothing' }, 'vxlan device missing or changed: re-creating');
        this.dev = await ensureVxlanDevice(this.o.host, this.o.device, this.log);
      }
      if (this.subnet) await setVxlanDeviceSubnet(this.o.host, this.dev, this.subnet);
      const desired = desiredEntries(this.leases());
      const actual = await this.readActual();
      const plan = diffOverlay(desired.entries, actual);
      plan.invalid = desired.invalid;
      if (isEmptyPlan(plan) && plan.invalid.length === 0) return { applied: 0, failed: 0 };
      return this.apply(plan, 'reconcile');
    });
  }

  /** Starts the periodic reconcile (on the injected clock). */
  startReconcile(): void {
    const tick = () => {
      if (this.stopped) return;
      this.reconcile()
        .catch((e: unknown) => this.log.error({ err: e }, 'vxlan reconcile failed'))
        .finally(() => {
          if (!this.stopped) this.timer = this.clock.setTimeout(tick, this.reconcileMs);
        });
    };
    this.timer = this.clock.setTimeout(tick, this.reconcileMs);
  }

  /**
   * Feeds a lease watch into the backend until `signal` aborts. A broken watch is
   * re-opened after a pause; its first result is a snapshot, which the tracker
   * turns into exactly the difference.
   */
  async run(watch: (signal: AbortSignal) => AsyncIterable<LeaseWatchResult>, signal: AbortSignal, retryMs = 1000): Promise<void> {
    while (!signal.aborted) {
      try {
        for await (const r of watch(signal)) {
          if (signal.aborted) break;
          await this.handle(r);
          this.firstSync();
        }
      } catch (e) {
        if (signal.aborted) break;
        this.log.warn({ err: e }, 'lease watch broke: re-opening');
      }
      if (signal.aborted) break;
      await this.clock.sleep(retryMs, signal).catch(() => undefined);
    }
  }

  /** Stops the reconcile timer; leaves the device and entries in place so pod traffic survives an agent restart. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.chain.catch(() => undefined);
  }

  /** The kernel's entries on our device (only ours: gateway routes, permanent neighbours, FDB entries with a destination). */
  async readActual(): Promise<OverlayEntries> {
    const h = this.o.host;
    const idx = this.dev.index;
    const routes = (await h.routeList({ family: 'inet', dev: idx }))
      .filter((r) => r.gateway !== undefined && r.dst !== 'default')
      .map((r) => ({ dst: r.dst, gateway: r.gateway! }));
    const neighs = (await h.neighList({ dev: idx, family: 'inet' }))
      .filter((n) => (n.state & rtnl.NUD_PERMANENT) !== 0 && n.dst && n.lladdr)
      .map((n) => ({ ip: n.dst!, mac: n.lladdr!.toLowerCase() }));
    const fdbs = (await h.fdbList({ dev: idx }))
      .filter((f) => f.dst !== undefined && f.lladdr !== undefined && f.lladdr !== ZERO_MAC)
      .map((f) => ({ mac: f.lladdr!.toLowerCase(), dst: f.dst! }));
    return { routes, neighs, fdbs };
  }

  /**
   * Carries a plan out: deletions (route, neighbour, FDB) then additions in the
   * order a packet needs them (neighbour and FDB before the route that sends
   * traffic their way). Each entry stands alone: one failure is logged and left
   * for the next reconcile, the rest go on.
   */
  private async apply(plan: OverlayPlan, why: string): Promise<ApplyResult> {
    const h = this.o.host;
    const dev = this.dev.index;
    for (const bad of plan.invalid) {
      this.log.error({ node: bad.lease.nodeName, subnet: bad.lease.subnet, reason: bad.reason }, 'ignoring malformed subnet lease');
    }
    let applied = 0;
    let failed = 0;
    const step = async (what: string, fn: () => Promise<void>, del: boolean) => {
      try {
        await fn();
        applied++;
      } catch (e) {
        if (del && isNotFound(e)) return;
        failed++;
        this.log.warn({ err: e, op: what, why }, 'vxlan entry operation failed');
      }
    };
    for (const r of plan.del.routes) await step(`del route ${r.dst}`, () => h.routeDel({ dst: r.dst, gateway: r.gateway, dev }), true);
    for (const n of plan.del.neighs) await step(`del neigh ${n.ip}`, () => h.neighDel({ dev, ip: n.ip }), true);
    for (const f of plan.del.fdbs) await step(`del fdb ${f.mac}`, () => h.fdbDel({ dev, lladdr: f.mac, dst: f.dst }), true);
    for (const n of plan.add.neighs) await step(`neigh ${n.ip}`, () => h.neighReplace({ dev, ip: n.ip, lladdr: n.mac }), false);
    for (const f of plan.add.fdbs) await step(`fdb ${f.mac}`, () => h.fdbReplace({ dev, lladdr: f.mac, dst: f.dst }), false);
    for (const r of plan.add.routes) await step(`route ${r.dst}`, () => h.routeReplace({ dst: r.dst, gateway: r.gateway, dev, onlink: true }), false);
    if (applied + failed > 0) this.log.info({ why, applied, failed, del: count(plan.del), add: count(plan.add) }, 'vxlan entries updated');
    return { applied, failed };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

function count(e: OverlayEntries): string {
  return `${e.routes.length} routes, ${e.neighs.length} neighbours, ${e.fdbs.length} fdb`;
}
