// The container layer of one agent, wired: both runtimes under the agent's run
// dir (new containers on the chosen one, older ones still managed by theirs),
// the cgroup manager under the agent's parent, and the container manager. Also
// a host pre-flight that says, in words, what would make the runtime fail.
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, Logger } from '../../api/index.js';
import { CgroupManager } from './cgroups.js';
import { ContainerManager } from './containers.js';
import { CONMON_BINARY } from './monitor.js';
import { createOciRuntime, RUNTIME_BINARIES, type OciRuntime, type OciRuntimeName } from './oci-runtime.js';
import { maxOpenFilesFromLimits } from './spec.js';

export interface ContainerRuntimeOptions {
  /** The agent's run dir; runtime state goes to `<runDir>/runtime/<name>`, bundles to `<runDir>/containers`. */
  runDir: string;
  /** `crun` (default) or `runc`. */
  runtimeName?: string;
  /** Absolute cgroup parent of the agent's pods (default `/flotilla`). */
  cgroupParent?: string;
  clock?: Clock;
  log?: Logger;
}

export interface ContainerRuntime {
  runtime: OciRuntime;
  cgroups: CgroupManager;
  containers: ContainerManager;
  /** RLIMIT_NOFILE to give containers: min(1048576, the host's hard limit). */
  maxOpenFiles: number;
}

export function createContainerRuntime(o: ContainerRuntimeOptions): ContainerRuntime {
  const name = o.runtimeName ?? 'crun';
  const runtime = createOciRuntime(name, { root: join(o.runDir, 'runtime', name) });
  const others = (Object.keys(RUNTIME_BINARIES) as OciRuntimeName[])
    .filter((n) => n !== runtime.name)
    .map((n) => createOciRuntime(n, { root: join(o.runDir, 'runtime', n) }));
  const cgroups = new CgroupManager({ parent: o.cgroupParent ?? '/flotilla' });
  const containers = new ContainerManager({ runDir: o.runDir, runtime, otherRuntimes: others, cgroups, clock: o.clock, log: o.log });
  return { runtime, cgroups, containers, maxOpenFiles: hostMaxOpenFiles() };
}

export function hostMaxOpenFiles(): number {
  try {
    return maxOpenFilesFromLimits(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return 1024;
  }
}

/** What on this host would make containers fail, as sentences (empty when all is well). */
export function runtimeHostProblems(runtimeName = 'crun', opts: { cgroupRoot?: string } = {}): string[] {
  const problems: string[] = [];
  const root = opts.cgroupRoot ?? '/sys/fs/cgroup';
  const binary = RUNTIME_BINARIES[runtimeName as OciRuntimeName];
  if (!binary) problems.push(`unknown OCI runtime "${runtimeName}": use crun or runc`);
  for (const b of [binary, CONMON_BINARY]) {
    if (!b) continue;
    try {
      accessSync(b, constants.X_OK);
    } catch {
      problems.push(`${b} is missing: run hack/deps.sh`);
    }
  }
  if (runtimeName === 'crun') {
    try {
      const hybrid = readFileSync(join(root, 'unified', 'cgroup.controllers'), 'utf8').trim();
      if (hybrid) {
        problems.push(
          `crun refuses cgroup hybrid mode while controllers (${hybrid}) sit on the v2 hierarchy: run hack/deps.sh, which mounts them as v1`,
        );
      }
    } catch {
      /* not a hybrid host */
    }
  }
  return problems;
}
