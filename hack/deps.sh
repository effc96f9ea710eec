#!/usr/bin/env bash
# Installs what Flotilla needs on a Debian 12 host and prepares the host so the
# OCI runtime works. Idempotent: installs only what is missing, says what it did.
#
# Usage: hack/deps.sh            # as root
#        DEPS_SKIP_APT=1 hack/deps.sh   # only the host preparation
set -euo pipefail

# Debian packages the project uses at run time and in tests.
PACKAGES=${PACKAGES:-"crun runc conmon etcd-server etcd-client busybox-static iproute2 iputils-ping procps iptables nftables conntrack docker-registry iperf3 build-essential python3 curl ca-certificates kmod dnsperf dnsmasq"}
# Where the real kubectl 1.20 (Debian kubernetes-client) is unpacked, beside any newer kubectl.
KUBECTL_DIR=${KUBECTL_DIR:-/opt/flotilla/kubernetes-client}
DEPS_SKIP_APT=${DEPS_SKIP_APT:-0}

log() { printf 'deps: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: must run as root (apt-get, mounts, namespaces)" >&2
  exit 1
fi

if [ "$DEPS_SKIP_APT" != 1 ]; then
  missing=()
  for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    log "installed: ${missing[*]}"
  else
    log "all packages present: $PACKAGES"
  fi

  # kubectl 1.20 from Debian's kubernetes-client, unpacked into its own folder so it
  # never conflicts with a newer kubectl package that owns /usr/bin/kubectl.
  if [ ! -x "$KUBECTL_DIR/usr/bin/kubectl" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    log "unpacking Debian kubernetes-client into $KUBECTL_DIR"
    (cd "$tmp" && apt-get download -qq kubernetes-client >/dev/null 2>&1) || { apt-get update -qq && (cd "$tmp" && apt-get download -qq kubernetes-client >/dev/null); }
    mkdir -p "$KUBECTL_DIR"
    dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$KUBECTL_DIR"
    rm -rf "$tmp"
    trap - EXIT
  else
    log "kubectl 1.20 present in $KUBECTL_DIR"
  fi
fi

# Host preparation -----------------------------------------------------------

# crun refuses "hybrid" cgroups while a controller (hugetlb here) sits on the v2
# hierarchy mounted beside the v1 ones. Mount hugetlb as a v1 hierarchy; once
# mounted it stays (an early unmount leaves hugetlb bound to an invisible hierarchy).
if [ -f /sys/fs/cgroup/unified/cgroup.controllers ]; then
  if grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers && ! grep -q ' /sys/fs/cgroup/hugetlb cgroup ' /proc/mounts; then
    mkdir -p /sys/fs/cgroup/hugetlb
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
    log "mounted hugetlb as a cgroup v1 hierarchy (crun hybrid-mode fix)"
  else
    log "cgroup hybrid mode already usable by crun"
  fi
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  log "cgroup v2 (unified) host"
else
  log "cgroup v1 host"
fi

# Kernel modules the lab and the overlay use; built-in or already loaded is fine.
for m in vxlan overlay veth bridge; do
  if ! grep -qw "^$m" /proc/modules 2>/dev/null && command -v modprobe >/dev/null; then
    modprobe "$m" 2>/dev/null || true
  fi
done

log "ready"
