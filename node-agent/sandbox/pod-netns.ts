// The network namespace of a pod sandbox: created and pinned by the addon under
// the agent's run dir, loopback brought up through rtnetlink (a pod always has
// `lo`, whatever the pod network adds), removed by unpinning.
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import * as native from '../../native/index.js';
import { RtnetlinkClient } from '../../netplugin/index.js';

/** Creates and pins a new network namespace at PIN and brings its loopback up. */
export async function createPodNetns(pin: string): Promise<void> {
  fs.mkdirSync(dirname(pin), { recursive: true, mode: 0o755 });
  // No shared self-bind mount of the pin directory (as `ip netns` makes of /run/netns):
  // it would outlive every pod as a mount of the agent's. The copies of pins that a
  // new mount namespace takes (crun's, before it pivots into the rootfs and drops
  // the old root) are short-lived, so propagation of a later unpin is not needed.
  native.netnsCreate(pin, { shareParent: false });
  try {
    const rt = await RtnetlinkClient.open(pin);
    try {
      await rt.linkSetUp('lo');
    } finally {
      rt.close();
    }
  } catch (e) {
    native.netnsDelete(pin);
    throw e;
  }
}

/** Unpins the namespace (idempotent: a missing pin is fine). */
export function deletePodNetns(pin: string): void {
  if (!fs.existsSync(pin)) return;
  try {
    native.netnsDelete(pin);
  } catch (e) {
    if (e instanceof native.NativeError && e.errnoCode === 'ENOENT') return;
    // A plain file left by a crash between creating the pin file and mounting onto it.
    if (e instanceof native.NativeError && e.code === 'Invalid') {
      fs.rmSync(pin, { force: true });
      return;
    }
    throw e;
  }
}

/** True when PIN still holds a network namespace. */
export function podNetnsAlive(pin: string): boolean {
  try {
    return native.netnsIsPin(pin);
  } catch {
    return false;
  }
}
