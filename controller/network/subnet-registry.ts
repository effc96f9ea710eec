// Subnet leases in etcd, Flannel style, owned by the controller:
//   /flotilla/network/config                    the network config
//   /flotilla/network/subnets/<a.b.c.d-len>      one lease per node, attached to an etcd lease (TTL)
// Allocation is a compare-and-swap transaction (create only if the key does not
// exist), so concurrent joins never collide. Renewal moves the key to a fresh
// etcd lease; a lease that is not renewed expires and its subnet is reclaimed.
import type { Etcd3 } from 'etcd3';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnavailableError,
  type KubeObject,
  type Logger,
} from '../../api/index.js';
import { InformerFactory, type SharedInformer } from '../informers/index.js';
import {
  cidrKey,
  normalizeLeaseBackend,
  parseCidr,
  pickFreeSubnet,
  validateNetworkConfig,
  type LeaseAttrs,
  type LeaseWatchResult,
  type NetworkConfig,
  type SubnetLease,
} from '../../netplugin/index.js';
import type { Store } from '../storage/store.js';

const CONFIG_KEY = '/flotilla/network/config';
const SUBNET_PREFIX = '/flotilla/network/subnets/';

interface LeaseObject extends KubeObject {
  lease: Omit<SubnetLease, 'expiration'>;
  ttlSeconds: number;
  renewedAt: string;
}

interface ConfigObject extends KubeObject {
  config: NetworkConfig;
}

export interface SubnetRegistryOptions {
  store: Store;
  etcd: Etcd3;
  log: Logger;
  /** Lease TTL; the agent renews at a fraction of it. Default 24 h, as Flannel. */
  ttlSeconds?: number;
  /** The process's shared informers (the leases' watch is one informer for every agent); default: its own. */
  informers?: InformerFactory;
}

/** The lease of a stored object (also one stored before backend data was opaque: backendType/backendData). */
function toLease(o: LeaseObject): SubnetLease {
  return { ...normalizeLeaseBackend(o.lease), expiration: Date.parse(o.renewedAt) + o.ttlSeconds * 1000 };
}

export class SubnetRegistry {
  private readonly ttl: number;
  private readonly leases: SharedInformer<LeaseObject>;

  constructor(private readonly o: SubnetRegistryOptions) {
    this.ttl = o.ttlSeconds ?? 24 * 3600;
    const informers = o.informers ?? new InformerFactory({ store: o.store, log: o.log });
    // The leases are under /flotilla/network/subnets/: the store's `network` resource, namespace `subnets`.
    this.leases = informers.informerFor<LeaseObject>('network', { namespace: 'subnets' });
  }

  get ttlSeconds(): number {
    return this.ttl;
  }

  /** Stores the network config unless one exists; returns the one in force. */
  async ensureConfig(cfg: NetworkConfig): Promise<NetworkConfig> {
    validateNetworkConfig(cfg);
    const obj: ConfigObject = { apiVersion: 'flotilla.io/v1', kind: 'NetworkConfig', metadata: { name: 'config' }, config: cfg };
    const r = await this.o.etcd.if(CONFIG_KEY, 'Create', '==', 0).then(this.o.etcd.put(CONFIG_KEY).value(JSON.stringify(obj))).commit();
    if (!r.succeeded) return this.getConfig();
    return cfg;
  }

  async getConfig(): Promise<NetworkConfig> {
    const raw = await this.o.etcd.get(CONFIG_KEY).string();
    if (!raw) throw new NotFoundError('network config not found: run flotilla-controller init');
    try {
      const cfg = (JSON.parse(raw) as ConfigObject).config;
      validateNetworkConfig(cfg);
      return cfg;
    } catch (e) {
      throw new UnavailableError(`network config in etcd is malformed: ${(e as Error).message}`);
    }
  }

  private async allRaw(): Promise<{ key: string; obj: LeaseObject | undefined; modRevision: string; lease: string }[]> {
    const res = await this.o.etcd.getAll().prefix(SUBNET_PREFIX).exec();
    return res.kvs.map((kv) => {
      let obj: LeaseObject | undefined;
      try {
        obj = JSON.parse(kv.value.toString()) as LeaseObject;
        if (!obj?.lease?.subnet || !obj.lease.nodeName) obj = undefined;
      } catch {
        obj = undefined;
      }
      if (!obj) this.o.log.warn({ key: kv.key.toString() }, 'ignoring a malformed subnet lease in etcd');
      return { key: kv.key.toString(), obj, modRevision: kv.mod_revision, lease: kv.lease };
    });
  }

  async list(): Promise<SubnetLease[]> {
    return (await this.allRaw()).flatMap((r) => (r.obj ? [toLease(r.obj)] : []));
  }

  private async grant(): Promise<string> {
    const r = await this.o.etcd.leaseClient.leaseGrant({ TTL: this.ttl, ID: 0 });
    return String(r.ID);
  }

  private async revoke(id: string): Promise<void> {
    if (!id || id === '0') return;
    await this.o.etcd.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined);
  }

  private object(subnet: string, nodeName: string, attrs: LeaseAttrs): LeaseObject {
    return {
      apiVersion: 'flotilla.io/v1',
      kind: 'SubnetLease',
      metadata: { name: cidrKey(parseCidr(subnet)), namespace: 'subnets' },
      lease: { subnet, nodeName, publicIP: attrs.publicIP, backend: attrs.backend },
      ttlSeconds: this.ttl,
      renewedAt: new Date().toISOString(),
    };
  }

  /** This node's lease: the subnet it already holds (same node → same subnet), else a free one. */
  async acquire(nodeName: string, attrs: LeaseAttrs): Promise<SubnetLease> {
    const cfg = await this.getConfig();
    for (let attempt = 0; attempt < 16; attempt++) {
      const all = await this.allRaw();
      const mine = all.find((r) => r.obj?.lease.nodeName === nodeName);
      const leaseId = await this.grant();
      if (mine?.obj) {
        const obj = this.object(mine.obj.lease.subnet, nodeName, attrs);
        const r = await this.o.etcd
          .if(mine.key, 'Mod', '==', mine.modRevision)
          .then(this.o.etcd.put(mine.key).value(JSON.stringify(obj)).lease(leaseId))
          .commit();
        if (r.succeeded) {
          await this.revoke(mine.lease);
          return toLease(obj);
        }
        await this.revoke(leaseId);
        continue;
      }
      // Malformed entries still occupy their subnet: never hand it out twice.
      const taken = all.map((r) => r.obj?.lease.subnet ?? r.key.slice(SUBNET_PREFIX.length).replace(/-(\d+)$/, '/$1'));
      const subnet = pickFreeSubnet(cfg, taken);
      const obj = this.object(subnet, nodeName, attrs);
      const key = SUBNET_PREFIX + cidrKey(parseCidr(subnet));
      const r = await this.o.etcd
        .if(key, 'Create', '==', 0)
        .then(this.o.etcd.put(key).value(JSON.stringify(obj)).lease(leaseId))
        .commit();
      if (r.succeeded) {
        this.o.log.info({ node: nodeName, subnet }, 'subnet leased');
        return toLease(obj);
      }
      await this.revoke(leaseId);
    }
    throw new ConflictError(`could not lease a subnet for node "${nodeName}": too much contention, try again`);
  }

  async renew(nodeName: string, attrs: LeaseAttrs): Promise<SubnetLease> {
    const all = await this.allRaw();
    const mine = all.find((r) => r.obj?.lease.nodeName === nodeName);
    if (!mine?.obj) throw new NotFoundError(`node "${nodeName}" holds no subnet lease (it expired or was released): acquire a new one`);
    if (mine.obj.lease.nodeName !== nodeName) throw new ForbiddenError(`subnet ${mine.obj.lease.subnet} belongs to another node`);
    return this.acquire(nodeName, attrs);
  }

  async release(nodeName: string): Promise<void> {
    for (const r of await this.allRaw()) {
      if (r.obj?.lease.nodeName === nodeName) {
        await this.o.etcd.delete().key(r.key).exec();
        await this.revoke(r.lease);
        this.o.log.info({ node: nodeName, subnet: r.obj.lease.subnet }, 'subnet lease released');
      }
    }
  }

  /**
   * A snapshot first, then changes; another snapshot whenever the watch had to
   * list again (compaction, a failed watch). Every agent's stream reads the one
   * shared informer of the leases: one list and one watch, however many agents.
   */
  async *watch(signal: AbortSignal): AsyncIterable<LeaseWatchResult> {
    const queue: LeaseWatchResult[] = [];
    let wake: (() => void) | undefined;
    const push = (r: LeaseWatchResult) => {
      queue.push(r);
      const w = wake;
      wake = undefined;
      w?.();
    };
    const ev = (type: 'added' | 'removed', o: LeaseObject) => {
      if (o.lease?.subnet) push({ kind: 'events', events: [{ type, lease: toLease(o) }] });
    };
    const snapshot = () => push({ kind: 'snapshot', leases: this.leases.list().filter((o) => o.lease?.subnet).map(toLease) });
    const ac = new AbortController();
    const stop = () => {
      ac.abort();
      wake?.();
    };
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) ac.abort();
    this.leases.addEventHandler(
      {
        // A relist's differences also come as events; the snapshot after them is what counts.
        onAdd: (o, initial) => void (initial || ev('added', o)),
        onUpdate: (_, o) => ev('added', o),
        onDelete: (o) => ev('removed', o),
        onSynced: snapshot,
      },
      { signal: ac.signal },
    );
    try {
      while (!ac.signal.aborted) {
        const r = queue.shift();
        if (r) {
          yield r;
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      signal.removeEventListener('abort', stop);
      ac.abort();
    }
  }
}
