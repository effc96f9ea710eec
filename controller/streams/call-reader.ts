// Reading a gRPC stream of messages as an async iterator, for the calls the
// controller makes to node agents (logs, exec, image export).
import type * as grpc from '@grpc/grpc-js';
import type { FlotillaError } from '../../api/index.js';

/**
 * A pull-based reader over a gRPC stream of messages: `return()` cancels the
 * call at once (a client leaving a quiet `logs -f` must not wait for a line),
 * and a full queue pauses the call so a slow HTTP client slows the agent.
 */
export class CallReader<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private finished = false;
  private error: unknown;
  private wake: (() => void) | undefined;

  constructor(
    private readonly call: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>,
    private readonly convert: (e: unknown) => FlotillaError,
  ) {
    call.on('data', (m: T) => {
      this.queue.push(m);
      if (this.queue.length >= 64) call.pause();
      this.notify();
    });
    call.on('end', () => {
      this.finished = true;
      this.notify();
    });
    call.on('error', (e: unknown) => {
      if (!this.finished) this.error = e;
      this.finished = true;
      this.notify();
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.queue.length > 0) {
        const value = this.queue.shift()!;
        if (this.queue.length < 16) this.call.resume();
        return { value, done: false };
      }
      if (this.error !== undefined) {
        const e = this.error;
        this.error = undefined;
        throw this.convert(e);
      }
      if (this.finished) return { value: undefined, done: true };
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async return(): Promise<IteratorResult<T>> {
    if (!this.finished) {
      this.finished = true;
      this.call.cancel();
    }
    this.queue.length = 0;
    this.error = undefined;
    this.notify();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
