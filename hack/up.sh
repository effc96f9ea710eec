#!/usr/bin/env bash
# One command from a fresh clone to a running multi-host lab cluster.
#
# Usage: hack/up.sh [--nodes N]
# Example: ./hack/up.sh --nodes 3 && ./hack/down.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Number of lab hosts (nodes).
NODES=${NODES:-3}
# Name prefix and underlay of the lab this cluster lives in.
export LAB_PREFIX=${LAB_PREFIX:-flt}
export LAB_NET=${LAB_NET:-10.200.0}

while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=${2:?--nodes needs a number}; shift 2 ;;
    --nodes=*) NODES=${1#--nodes=}; shift ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "up: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[[ "$NODES" =~ ^[0-9]+$ ]] && [ "$NODES" -ge 1 ] || { echo "up: --nodes must be a positive number, got '$NODES'" >&2; exit 2; }

./hack/deps.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "up: npm ci"
  npm ci --no-fund --no-audit --loglevel=error
fi
echo "up: build"
npm run -s build
./hack/lab.sh up "$NODES"
./hack/lab.sh status
echo
echo "up: lab '$LAB_PREFIX' is up with $NODES hosts. Run commands in a host with: ./hack/lab.sh exec h1 CMD"
echo "up: remove everything with: ./hack/down.sh"
