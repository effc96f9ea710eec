// Suites that need root or a binary call these in beforeAll: they fail with a
// clear message instead of skipping, so CI can never count a skipped suite as green.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export function requireRoot(suite: string): void {
  if (process.getuid?.() !== 0) {
    throw new Error(`${suite} needs root (network namespaces, mounts, cgroups): run the suite as root`);
  }
}

export function whichBinary(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin']);
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export function requireBinaries(suite: string, ...names: string[]): void {
  const missing = names.filter((n) => !whichBinary(n));
  if (missing.length > 0) {
    throw new Error(`${suite} needs ${missing.join(', ')} on PATH: run hack/deps.sh first`);
  }
}
