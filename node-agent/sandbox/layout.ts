// Where a pod's things live on the node. Kernel-bound state (namespace pins,
// sandbox records, the files bind-mounted over /etc) goes under the run dir,
// which a reboot empties together with the processes it describes; data that a
// user's containers write (emptyDir volumes) and their logs go under the state dir.
//
//   <runDir>/netns/<sandboxId>                      pinned network namespace
//   <runDir>/pods/<uid>/sandboxes/<sandboxId>.json  sandbox record (written before anything is acquired)
//   <runDir>/pods/<uid>/etc/{hostname,hosts,resolv.conf}
//   <runDir>/pods/<uid>/shm/                        the pod's /dev/shm (a tmpfs)
//   <runDir>/pause-rootfs/                          the pause container's tiny rootfs (shared)
//   <stateDir>/pods/<uid>/volumes/<name>/           emptyDir, configMap and secret (a tmpfs) volumes
//   <stateDir>/pods/<uid>/logs/<container>/<restartCount>-<id12>.log
import { join } from 'node:path';

export class NodeLayout {
  constructor(
    readonly stateDir: string,
    readonly runDir: string,
  ) {}

  netnsDir(): string {
    return join(this.runDir, 'netns');
  }

  netnsPin(sandboxId: string): string {
    return join(this.netnsDir(), sandboxId);
  }

  podRunDirs(): string {
    return join(this.runDir, 'pods');
  }

  podStateDirs(): string {
    return join(this.stateDir, 'pods');
  }

  podRunDir(uid: string): string {
    return join(this.podRunDirs(), uid);
  }

  podStateDir(uid: string): string {
    return join(this.podStateDirs(), uid);
  }

  sandboxRecordDir(uid: string): string {
    return join(this.podRunDir(uid), 'sandboxes');
  }

  sandboxRecord(uid: string, sandboxId: string): string {
    return join(this.sandboxRecordDir(uid), `${sandboxId}.json`);
  }

  etcDir(uid: string): string {
    return join(this.podRunDir(uid), 'etc');
  }

  shmDir(uid: string): string {
    return join(this.podRunDir(uid), 'shm');
  }

  volumeDir(uid: string, volume: string): string {
    return join(this.podStateDir(uid), 'volumes', volume);
  }

  logPath(uid: string, container: string, restartCount: number, containerId: string): string {
    return join(this.podStateDir(uid), 'logs', container, `${restartCount}-${containerId.slice(0, 12)}.log`);
  }

  pauseRootfs(): string {
    return join(this.runDir, 'pause-rootfs');
  }
}
