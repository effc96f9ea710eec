// The pod events of an image pull, worded as the kubelet words them so that
// `describe pod` reads the same: `Pulling`, progress while bytes move (at most
// one event every couple of seconds), `Pulled` with the time and size, or
// `Pulled` "already present on machine" when nothing had to be transferred.
// Failures are not here: the agent reports them as Failed/ErrImagePull.
import type { Clock, Pod } from '../api/index.js';
import type { PullProgress } from './images/index.js';

export type PodEventType = 'Normal' | 'Warning';

/**
 * Where the runtime's pod events go (the agent wires it to the controller).
 * It must not throw; a returned promise is awaited so events keep their order.
 */
export type PodEventSink = (pod: Pod, type: PodEventType, reason: string, message: string) => void | Promise<void>;

/** Least time between two progress events of one pull. */
export const PULL_PROGRESS_INTERVAL_MS = 2_000;

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'];

/** `512 B`, `1.2 KiB`, `3.4 MiB`: binary units, one decimal. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 1024) return `${Math.max(0, Math.round(Number.isFinite(n) ? n : 0))} B`;
  let v = n;
  let unit = 'B';
  for (const u of UNITS) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return `${v.toFixed(1)} ${unit}`;
}

/** `1.234s`, as the kubelet prints a pull's duration. */
export function formatPullDuration(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(3)}s`;
}

export function pullingMessage(image: string): string {
  return `Pulling image "${image}"`;
}

export function pullProgressMessage(image: string, p: Pick<PullProgress, 'bytesDone' | 'bytesTotal' | 'layersDone' | 'layersTotal'>): string {
  return `Pulling image "${image}": ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)} (${p.layersDone}/${p.layersTotal} layers)`;
}

export function pulledMessage(image: string, ms: number, bytes: number): string {
  return `Successfully pulled image "${image}" in ${formatPullDuration(ms)} (${formatBytes(bytes)})`;
}

export function alreadyPresentMessage(image: string): string {
  return `Container image "${image}" already present on machine`;
}

/**
 * The events of one image pull for one pod. `pulling()` when a pull starts,
 * `progress()` with every report of the puller, `finished()` once the image is
 * there. Emissions are chained so that they reach the sink in order.
 */
export class PullEventReporter {
  private startedAt: number | undefined;
  private lastEventAt = 0;
  private transferred = 0;
  private total: number | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    /** The image as the pod spec names it (`busybox:1.35`), as the kubelet quotes it. */
    private readonly image: string,
    private readonly clock: Clock,
    private readonly emit: (type: PodEventType, reason: string, message: string) => void | Promise<void>,
    private readonly intervalMs = PULL_PROGRESS_INTERVAL_MS,
  ) {}

  private send(reason: string, message: string): Promise<void> {
    this.chain = this.chain.then(async () => {
      try {
        await this.emit('Normal', reason, message);
      } catch {
        /* an event that could not be recorded is not the pull's failure */
      }
    });
    return this.chain;
  }

  /** A pull begins (the registry is asked). */
  pulling(): Promise<void> {
    this.startedAt = this.clock.now();
    this.lastEventAt = this.startedAt;
    return this.send('Pulling', pullingMessage(this.image));
  }

  /** A progress report of the puller: an event when bytes moved and the last event is old enough. */
  progress(p: PullProgress): void {
    this.transferred = Math.max(this.transferred, p.bytesTransferred);
    this.total = p.bytesTotal;
    if (p.done || this.startedAt === undefined || p.bytesTransferred <= 0 || p.bytesDone >= p.bytesTotal) return;
    const now = this.clock.now();
    if (now - this.lastEventAt < this.intervalMs) return;
    this.lastEventAt = now;
    void this.send('Pulling', pullProgressMessage(this.image, p));
  }

  /** The image is in the store; `imageBytes` is its size when no progress told it. */
  finished(imageBytes: number): Promise<void> {
    if (this.transferred === 0) return this.send('Pulled', alreadyPresentMessage(this.image));
    const ms = this.clock.now() - (this.startedAt ?? this.clock.now());
    return this.send('Pulled', pulledMessage(this.image, ms, this.total ?? imageBytes));
  }

  /** Resolves when every event so far reached the sink. */
  flush(): Promise<void> {
    return this.chain;
  }
}
