#!/usr/bin/env bash
# Removes the local lab cluster made by hack/up.sh: processes, namespaces, links, mounts.
#
# Usage: hack/down.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export LAB_PREFIX=${LAB_PREFIX:-flt}
export LAB_NET=${LAB_NET:-10.200.0}
./hack/lab.sh down
