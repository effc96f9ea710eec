// A watch-fed cache of namespaces, for the "namespace exists and is not
// terminating" check on every create (Kubernetes' NamespaceLifecycle admission
// reads an informer cache the same way). A cache miss is never trusted: the
// caller reads the store, so a namespace created a moment ago is found.
import { GoneError, type Clock, type Logger, type Namespace } from '../../api/index.js';
import type { Store } from '../storage/store.js';

export class NamespaceCache {
  private readonly items = new Map<string, Namespace>();
  private ac: AbortController | undefined;
  private synced = false;
  private retry: { cancel(): void } | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** The cached namespace; undefined when unknown (not synced, or absent: ask the store). */
  get(name: string): Namespace | undefined {
    return this.synced ? this.items.get(name) : undefined;
  }

  start(): void {
    if (this.ac) return;
    this.ac = new AbortController();
    void this.loop(this.ac.signal);
  }

  stop(): void {
    this.ac?.abort();
    this.retry?.cancel();
  }

  private async loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const list = await this.store.list<Namespace>('namespaces');
        this.items.clear();
        for (const ns of list.items) this.items.set(ns.metadata.name ?? '', ns);
        this.synced = true;
        for await (const ev of this.store.watch<Namespace>('namespaces', { resourceVersion: list.resourceVersion, signal })) {
          const name = ev.object.metadata.name ?? '';
          if (ev.type === 'DELETED') this.items.delete(name);
          else if (ev.type === 'ADDED' || ev.type === 'MODIFIED') this.items.set(name, ev.object);
        }
      } catch (e) {
        if (signal.aborted) return;
        this.synced = false;
        if (!(e instanceof GoneError)) this.log.warn({ err: (e as Error).message }, 'namespace watch failed; re-listing');
        await new Promise<void>((resolve) => {
          this.retry = this.clock.setTimeout(resolve, e instanceof GoneError ? 0 : 1000);
        });
      }
    }
  }
}
