// Kubernetes' ControllerExpectations: the creates and deletes a controller has
// sent for a key and not yet seen come back through its informer. While any
// are outstanding (and not expired) the controller does not count pods again,
// so a slow informer never makes it create twice.
import type { Clock } from '../../api/index.js';

const TTL_MS = 5 * 60_000;

interface Pending {
  adds: number;
  dels: Set<string>;
  atMs: number;
}

export class Expectations {
  private readonly m = new Map<string, Pending>();
  constructor(private readonly clock: Clock) {}

  private entry(key: string): Pending {
    let p = this.m.get(key);
    if (!p) {
      p = { adds: 0, dels: new Set(), atMs: this.clock.now() };
      this.m.set(key, p);
    }
    return p;
  }

  expectCreations(key: string, n: number): void {
    const p = this.entry(key);
    p.adds += n;
    p.atMs = this.clock.now();
  }

  expectDeletions(key: string, podKeys: readonly string[]): void {
    const p = this.entry(key);
    for (const k of podKeys) p.dels.add(k);
    p.atMs = this.clock.now();
  }

  creationObserved(key: string): void {
    const p = this.m.get(key);
    if (p && p.adds > 0) p.adds--;
  }

  deletionObserved(key: string, podKey: string): void {
    this.m.get(key)?.dels.delete(podKey);
  }

  satisfied(key: string): boolean {
    const p = this.m.get(key);
    if (!p) return true;
    if (p.adds <= 0 && p.dels.size === 0) return true;
    return this.clock.now() - p.atMs > TTL_MS;
  }

  forget(key: string): void {
    this.m.delete(key);
  }
}
