// Where the agent reads the ConfigMaps and Secrets its pods use: the
// controller's GetConfigObject (the node restriction lets a node read exactly
// the objects of pods bound to it), behind a TTL cache as the kubelet's
// `Cache` change-detection strategy: a sync within the TTL of the last read uses
// what was read, a later one reads again. Pods are synced at least every relist
// period, so a changed object reaches them within TTL + relist (well inside a
// minute), and an object that appears is seen as soon.
import { realClock, type Clock, type KubeObject, type Pod } from '../../api/index.js';
import type { ConfigResource } from '../../api/agent-protocol.js';

export interface ConfigObjectSource {
  /**
   * The object, or undefined when it does not exist. POD is the pod (bound to
   * this node) that references it: the controller authorizes the read by it.
   * Other failures (refused, controller unreachable) are thrown.
   */
  get<T extends KubeObject>(resource: ConfigResource, namespace: string, name: string, pod: Pod): Promise<T | undefined>;
}

export type ConfigFetch = (resource: ConfigResource, namespace: string, name: string, pod: Pod) => Promise<KubeObject | undefined>;

/** How long a read object (or its absence) is used before it is read again. */
export const CONFIG_CACHE_TTL_MS = 10_000;
/** Entries no pod asked for in this long are dropped (their pods are gone). */
export const CONFIG_CACHE_IDLE_MS = 5 * 60_000;

interface Entry {
  value: KubeObject | undefined;
  fetchedAt: number;
  usedAt: number;
}

export class CachedConfigSource implements ConfigObjectSource {
  private readonly entries = new Map<string, Entry>();
  /** One read per object at a time: pods asking together share it. */
  private readonly inflight = new Map<string, Promise<KubeObject | undefined>>();
  private lastSweep = 0;

  constructor(
    private readonly fetch: ConfigFetch,
    private readonly clock: Clock = realClock,
    private readonly ttlMs = CONFIG_CACHE_TTL_MS,
  ) {}

  async get<T extends KubeObject>(resource: ConfigResource, namespace: string, name: string, pod: Pod): Promise<T | undefined> {
    const now = this.clock.now();
    this.sweep(now);
    const key = `${resource}/${namespace}/${name}`;
    const e = this.entries.get(key);
    if (e && now - e.fetchedAt < this.ttlMs) {
      e.usedAt = now;
      return e.value as T | undefined;
    }
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetch(resource, namespace, name, pod).then(
        (value) => {
          const at = this.clock.now();
          this.entries.set(key, { value, fetchedAt: at, usedAt: at });
          this.inflight.delete(key);
          return value;
        },
        (err: unknown) => {
          // Failures are not remembered: the next sync asks again.
          this.inflight.delete(key);
          throw err;
        },
      );
      this.inflight.set(key, p);
    }
    return (await p) as T | undefined;
  }

  /** How many objects are held (tests, metrics). */
  get size(): number {
    return this.entries.size;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [k, e] of this.entries) if (now - e.usedAt > CONFIG_CACHE_IDLE_MS) this.entries.delete(k);
  }
}
