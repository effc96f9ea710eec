// A minimal container rootfs for runtime tests: Debian's busybox-static as
// /bin/busybox with applet symlinks, and the directories a container expects.
// Stands in for an image rootfs until tests use the image store's overlay.
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BUSYBOX = '/bin/busybox';

const APPLETS = [
  'sh', 'sleep', 'cat', 'echo', 'head', 'tr', 'ls', 'ps', 'kill', 'true', 'false', 'env', 'id', 'hostname',
  'mount', 'grep', 'wc', 'yes', 'dd', 'printf', 'test', 'seq', 'mkdir', 'rm', 'touch',
];

/** Builds a busybox rootfs in DIR (created) and returns DIR. */
export function buildBusyboxRootfs(dir: string): string {
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc', 'root', 'var', 'run']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(BUSYBOX, join(dir, 'bin', 'busybox'));
  for (const a of APPLETS) symlinkSync('busybox', join(dir, 'bin', a));
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  return dir;
}
