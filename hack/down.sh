#!/usr/bin/env bash
# Removes the lab cluster hack/up.sh made: the pods (deleted through the API so
# agents stop them cleanly), the agents, the controller and its etcd, the
# registry (read-only) and its loopback writer, whatever a killed agent left
# (container processes, cgroups, mounts, pinned namespaces), the lab hosts and
# links, and the state directories.
#
# Usage: hack/down.sh            (with the same LAB_PREFIX/LAB_NET as up.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

export LAB_PREFIX=${LAB_PREFIX:-flt}
export LAB_NET=${LAB_NET:-10.200.0}
export LAB_STATE=${LAB_STATE:-/run/flotilla-lab/$LAB_PREFIX}
CLUSTER_DIR=${CLUSTER_DIR:-/var/lib/flotilla-lab/$LAB_PREFIX}
# How long pods get to stop through the API before everything is killed (seconds).
DRAIN_SECONDS=${DRAIN_SECONDS:-60}

[ "$(id -u)" -eq 0 ] || { echo "down: must run as root" >&2; exit 1; }
note() { printf 'down: %s\n' "$*"; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
KUBECONFIG_FILE="$CLUSTER_DIR/controller/admin.kubeconfig"

# 1. Pods go through the API first: agents stop containers and release pod IPs.
if alive "$LAB_STATE/pids/controller.pid" && [ -f "$KUBECONFIG_FILE" ] && [ -f dist/cli/main.js ]; then
  note "deleting all pods (up to ${DRAIN_SECONDS}s)"
  timeout "$DRAIN_SECONDS" node dist/cli/main.js --kubeconfig "$KUBECONFIG_FILE" delete pods --all -A --wait >/dev/null 2>&1 ||
    note "pods did not all stop in time; killing what is left"
fi

# 2. Agents stop (they leave containers running by design), then their leftovers go.
for f in "$LAB_STATE"/pids/h*-agent.pid; do
  [ -e "$f" ] || continue
  if alive "$f"; then kill -TERM "$(cat "$f")" 2>/dev/null || true; fi
done
for _ in $(seq 1 50); do
  left=0
  for f in "$LAB_STATE"/pids/h*-agent.pid; do [ -e "$f" ] && alive "$f" && left=1; done
  [ $left = 0 ] && break
  sleep 0.1
done
# Container processes live in the agents' cgroups: kill them there, then remove the cgroups.
cg_dirs() { find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name "flotilla-$LAB_PREFIX" 2>/dev/null || true; }
for d in $(cg_dirs); do
  find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
done
sleep 0.2
for d in $(cg_dirs); do
  find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
done

# 3. Mounts under the cluster's state (container root filesystems), deepest first.
if [ -d "$CLUSTER_DIR" ]; then
  awk -v p="$CLUSTER_DIR/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
fi

# 4. The lab: recorded processes (controller, etcd, the registry and its writer), namespaces, links, mounts under its state.
./hack/lab.sh down

rm -rf "$CLUSTER_DIR"
left=$(cg_dirs)
[ -z "$left" ] || note "cgroups left behind (busy?): $left"
note "cluster '$LAB_PREFIX' removed"
