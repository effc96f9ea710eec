// Mutual exclusion for the store's metadata: an in-process queue (several pulls
// in one agent) plus an O_EXCL lock file (another process on the same state dir,
// e.g. an import run beside the agent). A lock file whose owner PID is gone is
// taken over.
import { open, readFile, unlink } from 'node:fs/promises';
import { realClock, type Clock } from '../../api/index.js';

export class AsyncMutex {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    try {
      await prev;
      return await fn();
    } finally {
      release();
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class FileLock {
  private readonly mutex = new AsyncMutex();

  constructor(
    private readonly path: string,
    private readonly clock: Clock = realClock,
  ) {}

  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      await this.acquire();
      try {
        return await fn();
      } finally {
        await unlink(this.path).catch(() => undefined);
      }
    });
  }

  private async acquire(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(this.path, 'wx');
        await fh.writeFile(String(process.pid));
        await fh.close();
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const owner = Number((await readFile(this.path, 'utf8').catch(() => '')).trim());
      // Our own PID can only be a leftover (the in-process mutex is ours); an empty
      // file that stays empty is a writer that died between create and write.
      if ((owner > 0 && (owner === process.pid || !alive(owner))) || (!(owner > 0) && attempt > 50)) {
        await unlink(this.path).catch(() => undefined);
        continue;
      }
      await this.clock.sleep(Math.min(5 + attempt * 5, 100));
    }
  }
}
