#!/usr/bin/env bash
# The lab: N hosts as network namespaces on one underlay bridge, so a single
# machine can run a multi-host cluster. Everything made is recorded under the
# lab's state dir and removed by `down`.
#
# Usage:
#   hack/lab.sh up N              # make hosts h1..hN (idempotent)
#   hack/lab.sh down              # remove namespaces, links, mounts, processes
#   hack/lab.sh exec HOST CMD...  # run CMD inside host HOST (h1, h2, ...)
#   hack/lab.sh spawn HOST NAME CMD...  # start CMD in HOST in the background, recorded for `down`
#   hack/lab.sh status
#   hack/lab.sh ip HOST           # print a host's underlay address
# Examples:
#   LAB_PREFIX=t42 LAB_NET=10.200.42 hack/lab.sh up 3
#   hack/lab.sh exec h1 ping -c1 10.200.0.12
set -euo pipefail

# Name prefix of every namespace and link this lab makes (<= 8 chars: link names max 15).
LAB_PREFIX=${LAB_PREFIX:-flt}
# First three octets of the underlay /24 (project-owned range, never the host's own subnet).
LAB_NET=${LAB_NET:-10.200.0}
# Where the lab records what it made (pids, logs, mounts live under it).
LAB_STATE=${LAB_STATE:-/run/flotilla-lab/$LAB_PREFIX}
# MTU of the underlay links.
LAB_MTU=${LAB_MTU:-1500}

BRIDGE="${LAB_PREFIX}-br0"
GATEWAY="${LAB_NET}.1"

die() { echo "lab: $*" >&2; exit 1; }
log() { echo "lab: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces)"
[ ${#LAB_PREFIX} -le 8 ] || die "LAB_PREFIX '$LAB_PREFIX' is longer than 8 characters"
[[ "$LAB_PREFIX" =~ ^[a-z][a-z0-9]*$ ]] || die "LAB_PREFIX '$LAB_PREFIX' must be lowercase letters and digits"
[[ "$LAB_NET" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "LAB_NET '$LAB_NET' must be three octets like 10.200.0"

netns_of() { echo "${LAB_PREFIX}-$1"; }
host_ip() { local i=${1#h}; echo "${LAB_NET}.$((10 + i))"; }

check_host() {
  [[ "$1" =~ ^h[0-9]+$ ]] || die "host '$1' is not a lab host name (h1, h2, ...)"
  ip netns list | awk '{print $1}' | grep -qx "$(netns_of "$1")" || die "host '$1' does not exist in lab '$LAB_PREFIX' (run: hack/lab.sh up N)"
}

cmd_up() {
  local n=${1:-}
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "usage: lab.sh up N (1..200)"
  mkdir -p "$LAB_STATE/pids" "$LAB_STATE/hosts"
  echo "$LAB_NET" >"$LAB_STATE/net"

  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip link set "$BRIDGE" mtu "$LAB_MTU"
    ip addr add "${GATEWAY}/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    log "bridge $BRIDGE ${GATEWAY}/24"
  fi

  local i
  for i in $(seq 1 "$n"); do
    local h="h$i" ns veth addr
    ns=$(netns_of "$h")
    veth="${LAB_PREFIX}-${h}"
    addr=$(host_ip "$h")
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      continue
    fi
    ip netns add "$ns"
    echo "$addr" >"$LAB_STATE/hosts/$h"
    ip link add "$veth" mtu "$LAB_MTU" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master "$BRIDGE"
    ip link set "$veth" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "${addr}/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.default.rp_filter=2 net.ipv4.conf.eth0.rp_filter=2
    log "host $h ($ns) $addr"
  done
}

cmd_down() {
  # Processes we started, by recorded PID (and their process groups).
  if [ -d "$LAB_STATE/pids" ]; then
    local f pid
    for f in "$LAB_STATE"/pids/*.pid; do
      [ -e "$f" ] || continue
      pid=$(cat "$f")
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      fi
    done
    sleep 0.2
    for f in "$LAB_STATE"/pids/*.pid; do
      [ -e "$f" ] || continue
      pid=$(cat "$f")
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      fi
      rm -f "$f"
    done
  fi
  # Anything still running inside our namespaces was started inside the lab.
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${LAB_PREFIX}-h[0-9]+$" || true); do
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  done
  # Mounts under the lab's state dir, deepest first.
  if [ -d "$LAB_STATE" ]; then
    awk -v p="$LAB_STATE/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
  fi
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${LAB_PREFIX}-h[0-9]+$" || true); do
    ip netns del "$ns"
  done
  local l
  for l in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^${LAB_PREFIX}-" || true); do
    ip link del "$l" 2>/dev/null || true
  done
  rm -rf "$LAB_STATE"
  log "lab '$LAB_PREFIX' removed"
}

cmd_exec() {
  local h=${1:-}
  [ -n "$h" ] || die "usage: lab.sh exec HOST CMD..."
  shift
  [ $# -gt 0 ] || die "usage: lab.sh exec HOST CMD..."
  check_host "$h"
  exec ip netns exec "$(netns_of "$h")" "$@"
}

cmd_spawn() {
  local h=${1:-} name=${2:-}
  [ -n "$h" ] && [ -n "$name" ] || die "usage: lab.sh spawn HOST NAME CMD..."
  shift 2
  [ $# -gt 0 ] || die "usage: lab.sh spawn HOST NAME CMD..."
  [[ "$name" =~ ^[a-zA-Z0-9_.-]+$ ]] || die "process name '$name' must be [a-zA-Z0-9_.-]"
  check_host "$h"
  mkdir -p "$LAB_STATE/pids" "$LAB_STATE/logs"
  # nsenter switches only the network namespace: daemons (node agents) keep the
  # machine's mount namespace, so the mounts they make (pinned pod namespaces,
  # container root filesystems) outlive them and are seen by their next start.
  # (`ip netns exec` would give each start a private mount namespace.)
  setsid nsenter --net="/var/run/netns/$(netns_of "$h")" -- "$@" >"$LAB_STATE/logs/$h-$name.log" 2>&1 </dev/null &
  echo $! >"$LAB_STATE/pids/$h-$name.pid"
  echo $!
}

cmd_status() {
  echo "lab '$LAB_PREFIX' (underlay ${LAB_NET}.0/24, bridge $BRIDGE)"
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${LAB_PREFIX}-h[0-9]+$" | sort -V || true); do
    printf '  %-12s %s\n' "${ns#"${LAB_PREFIX}"-}" "$(ip -n "$ns" -4 -o addr show dev eth0 | awk '{print $4}')"
  done
  if [ -d "$LAB_STATE/pids" ]; then
    local f
    for f in "$LAB_STATE"/pids/*.pid; do
      [ -e "$f" ] || continue
      local pid; pid=$(cat "$f")
      if kill -0 "$pid" 2>/dev/null; then s=running; else s=exited; fi
      printf '  process %-20s pid %-8s %s\n' "$(basename "$f" .pid)" "$pid" "$s"
    done
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  exec) cmd_exec "$@" ;;
  spawn) cmd_spawn "$@" ;;
  status) cmd_status ;;
  ip) [[ "${1:-}" =~ ^h[0-9]+$ ]] || die "usage: lab.sh ip HOST"; host_ip "$1" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
