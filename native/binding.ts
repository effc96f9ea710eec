// Loads the compiled addon (native/build/Release/flotilla_native.node) on first
// use, so importing native/ never fails on a machine where it is not built yet;
// the first call then throws a NativeError that says how to build it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeError } from './errors.js';

/** The raw addon surface (see native/src/*.cc). Prefer the typed wrappers in index.ts. */
export interface RawNetlinkSocket {
  readonly fd: number;
  readonly portId: number;
  send(msg: Buffer): void;
  recv(): Buffer | null;
  poll(cb: (() => void) | null): void;
  close(): void;
}

export interface NativeBinding {
  abiVersion(): number;
  strerror(errno: number): string;
  netnsCreate(pinPath: string, shareParent: boolean): void;
  netnsDelete(pinPath: string): void;
  netnsIsPin(path: string): boolean;
  socketInNetns(nsPath: string | null, domain: number, type: number, protocol: number): number;
  openInNetns(nsPath: string | null, path: string, flags: number, mode?: number): number;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  umount(target: string, flags?: number): void;
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer, flags?: number): void;
  lgetxattr(path: string, name: string): Buffer | null;
  constants: Record<string, number>;
  NetlinkSocket: new (nsPath: string | null, protocol: number, groups?: number) => RawNetlinkSocket;
}

/** The repository root: the nearest ancestor holding native/binding.gyp (works from source and from dist/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'native', 'binding.gyp'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('native: cannot find the repository root (native/binding.gyp)');
    dir = up;
  }
}

export const ADDON_ABI_VERSION = 2;

let cached: NativeBinding | undefined;
let override: NativeBinding | undefined;

/** Replaces the binding (tests of code that uses native/ without root or a build). */
export function setNativeBinding(b: NativeBinding | undefined): void {
  override = b;
}

/** Returns the addon, loading it on first use. Throws NativeError when it is not built. */
export function nativeBinding(): NativeBinding {
  if (override) return override;
  if (cached) return cached;
  const path = process.env.FLOTILLA_NATIVE_ADDON ?? join(repoRoot(), 'native', 'build', 'Release', 'flotilla_native.node');
  try {
    const req = createRequire(import.meta.url);
    const b = req(path) as NativeBinding;
    if (b.abiVersion() !== ADDON_ABI_VERSION) {
      throw new Error(`addon ABI ${b.abiVersion()}, wrapper expects ${ADDON_ABI_VERSION}`);
    }
    cached = b;
    return b;
  } catch (e) {
    throw new NativeError(
      {
        errno: 2,
        syscall: 'dlopen',
        path,
        kernelMessage: `the native addon is not built or is stale (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); run \`npm run build:native\``,
      },
      { cause: e },
    );
  }
}
