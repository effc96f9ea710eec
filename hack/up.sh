#!/usr/bin/env bash
# One command from a fresh clone to a running multi-host lab cluster with pods:
# dependencies, build, the lab hosts, the controller (with its managed etcd), a
# local OCI registry holding the test image (read-only to the lab; pushes go to a
# loopback writer with credentials), one agent per lab host joined with a
# bootstrap token, the demo pods Running, and the cross-host network check.
# Running it again keeps what is up and starts what is missing.
#
# Usage: hack/up.sh [--nodes N]
# Examples:
#   ./hack/up.sh                       # 3 nodes
#   ./hack/up.sh --nodes 4
#   LAB_PREFIX=demo2 LAB_NET=10.200.7 API_PORT=7443 ./hack/up.sh   # a second, separate cluster
# Remove everything with ./hack/down.sh (same environment).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# Number of lab hosts (nodes); the demo pins a web server to each of h1..h3.
NODES=${NODES:-3}
# Name prefix and underlay /24 of the lab (project-owned range, never this machine's own subnet).
export LAB_PREFIX=${LAB_PREFIX:-flt}
export LAB_NET=${LAB_NET:-10.200.0}
# The lab's own records (pids, logs); removed by down.
export LAB_STATE=${LAB_STATE:-/run/flotilla-lab/$LAB_PREFIX}
# Controller, registry and agent state (etcd data, images); removed by down.
CLUSTER_DIR=${CLUSTER_DIR:-/var/lib/flotilla-lab/$LAB_PREFIX}
# Ports on the lab gateway address: API, agent bootstrap, agent node service, registry
# (not 5000: a distribution's own docker-registry service may hold that one).
API_PORT=${API_PORT:-6443}
BOOTSTRAP_PORT=${BOOTSTRAP_PORT:-$((API_PORT + 1))}
NODE_PORT=${NODE_PORT:-$((API_PORT + 2))}
REGISTRY_PORT=${REGISTRY_PORT:-$((API_PORT + 3))}
# The registry's writer (pushes, with credentials) on 127.0.0.1 only: the same port
# number on another address, so a lab needs no fifth port. User of its htpasswd.
REGISTRY_WRITER_PORT=${REGISTRY_WRITER_PORT:-$REGISTRY_PORT}
REGISTRY_PUSH_USER=${REGISTRY_PUSH_USER:-flotilla-push}
# OCI runtime of the agents (crun or runc).
RUNTIME=${RUNTIME:-crun}
# Skip apt/npm/build (already done, e.g. by hack/test.sh).
SKIP_BUILD=${SKIP_BUILD:-0}
# Apply manifests/demo.yaml and wait for it.
DEMO=${DEMO:-1}
# How long to wait for nodes and pods (seconds).
WAIT_SECONDS=${WAIT_SECONDS:-300}
# Extra flags for `flotilla-controller run` and `flotilla-agent join` (tests shorten the heartbeat periods).
CONTROLLER_ARGS=${CONTROLLER_ARGS:-}
AGENT_ARGS=${AGENT_ARGS:-}

while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=${2:?--nodes needs a number}; shift 2 ;;
    --nodes=*) NODES=${1#--nodes=}; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "up: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[[ "$NODES" =~ ^[0-9]+$ ]] && [ "$NODES" -ge 1 ] && [ "$NODES" -le 50 ] || { echo "up: --nodes must be a number in 1..50, got '$NODES'" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "up: must run as root (network namespaces, mounts, cgroups)" >&2; exit 1; }

GW="${LAB_NET}.1"
REGISTRY="${GW}:${REGISTRY_PORT}"
REGISTRY_WRITER="127.0.0.1:${REGISTRY_WRITER_PORT}"
CTL_DIR="$CLUSTER_DIR/controller"
KUBECONFIG_FILE="$CTL_DIR/admin.kubeconfig"
BIN="$CLUSTER_DIR/bin"
step() { printf '\nup: %s\n' "$*"; }
note() { printf 'up:   %s\n' "$*"; }
die() { printf 'up: %s\n' "$*" >&2; exit 1; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
flotctl() { node "$ROOT/dist/cli/main.js" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

if [ "$SKIP_BUILD" != 1 ]; then
  step "dependencies"
  ./hack/deps.sh
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    step "npm ci"
    npm ci --no-fund --no-audit --loglevel=error
  fi
  step "build"
  npm run -s build
fi

step "lab: $NODES hosts on ${LAB_NET}.0/24 (prefix $LAB_PREFIX)"
./hack/lab.sh up "$NODES"
mkdir -p "$LAB_STATE/pids" "$LAB_STATE/logs" "$CLUSTER_DIR" "$BIN"
for tool in flotctl:cli/main.js flotilla-controller:controller/main.js flotilla-agent:node-agent/main.js; do
  printf '#!/bin/sh\nexec node %s "$@"\n' "$ROOT/dist/${tool#*:}" >"$BIN/${tool%%:*}"
  chmod +x "$BIN/${tool%%:*}"
done

step "controller on https://$GW:$API_PORT (managed etcd, state in $CTL_DIR)"
if [ ! -f "$CTL_DIR/pki/ca.crt" ]; then
  node dist/controller/main.js init --state-dir "$CTL_DIR" --advertise-address "$GW" --api-port "$API_PORT" \
    --bootstrap-port "$BOOTSTRAP_PORT" --node-port "$NODE_PORT" | sed 's/^/up:   /'
fi
if alive "$LAB_STATE/pids/controller.pid"; then
  note "already running (pid $(cat "$LAB_STATE/pids/controller.pid"))"
else
  # shellcheck disable=SC2086
  setsid node dist/controller/main.js run --state-dir "$CTL_DIR" --listen "$GW:$API_PORT" $CONTROLLER_ARGS \
    >"$LAB_STATE/logs/controller.out" 2>"$LAB_STATE/logs/controller.log" </dev/null &
  echo $! >"$LAB_STATE/pids/controller.pid"
  for _ in $(seq 1 150); do
    grep -q 'serving https://' "$LAB_STATE/logs/controller.out" 2>/dev/null && break
    kill -0 "$(cat "$LAB_STATE/pids/controller.pid")" 2>/dev/null || { tail -20 "$LAB_STATE/logs/controller.log" >&2; die "the controller exited; log: $LAB_STATE/logs/controller.log"; }
    sleep 0.2
  done
  grep -q 'serving https://' "$LAB_STATE/logs/controller.out" || die "the controller did not start in 30 s; log: $LAB_STATE/logs/controller.log"
  note "started (pid $(cat "$LAB_STATE/pids/controller.pid")), log $LAB_STATE/logs/controller.log"
fi

step "registry: read-only on http://$REGISTRY for the nodes, pushes with credentials on http://$REGISTRY_WRITER"
# Two docker-registry processes share one storage directory. The one the nodes
# (and so any pod) can reach is read-only: every push gets 405 Method Not Allowed,
# so no pod can replace busybox:1.35 for the cluster. The writer listens on
# loopback only (unreachable from the lab's namespaces) and asks for the htpasswd
# user whose random password only this machine's root can read.
REG_DIR="$CLUSTER_DIR/registry"
mkdir -p "$REG_DIR/data"
chmod 0700 "$REG_DIR"
if [ ! -s "$REG_DIR/push-password" ] || [ ! -s "$REG_DIR/htpasswd" ]; then
  (umask 077
   head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$REG_DIR/push-password"
   # The registry accepts only bcrypt; python3's crypt (libxcrypt) makes it, as the tests do.
   python3 -W ignore -c 'import crypt,sys; print(sys.argv[1] + ":" + crypt.crypt(open(sys.argv[2]).read(), crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
     "$REGISTRY_PUSH_USER" "$REG_DIR/push-password" >"$REG_DIR/htpasswd")
  grep -q ':\$2' "$REG_DIR/htpasswd" || die "python3 crypt made no bcrypt hash for $REG_DIR/htpasswd"
fi
registry_config() { # registry_config ADDR read-only|writer
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n'
  printf 'storage:\n  filesystem:\n    rootdirectory: %s\n' "$REG_DIR/data"
  if [ "$2" = read-only ]; then
    # Upload purging is the writer's business: a read-only registry must not delete anything.
    printf '  maintenance:\n    readonly:\n      enabled: true\n    uploadpurging:\n      enabled: false\n'
  fi
  printf 'http:\n  addr: %s\n  secret: %s\n' "$1" "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  if [ "$2" = writer ]; then
    printf 'auth:\n  htpasswd:\n    realm: flotilla-lab-registry\n    path: %s\n' "$REG_DIR/htpasswd"
  fi
}
start_registry() { # start_registry NAME ADDR MODE
  local name=$1 conf="$REG_DIR/$1.yml"
  # A registry left by an older up.sh (writable on the lab address) is replaced.
  if alive "$LAB_STATE/pids/$name.pid" && grep -q "addr: $2\$" "$conf" 2>/dev/null &&
     { [ "$3" != read-only ] || grep -q readonly "$conf"; }; then
    note "$name: already running (pid $(cat "$LAB_STATE/pids/$name.pid"))"
    return
  fi
  if alive "$LAB_STATE/pids/$name.pid"; then
    kill -TERM "$(cat "$LAB_STATE/pids/$name.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$LAB_STATE/pids/$name.pid" || break; sleep 0.1; done
  fi
  rm -f "$REG_DIR/config.yml" # an older up.sh's (writable) configuration
  (umask 077; registry_config "$2" "$3" >"$conf")
  setsid /usr/bin/docker-registry serve "$conf" >"$LAB_STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$LAB_STATE/pids/$name.pid"
  STARTED+=("$name")
}
answers() { # answers URL STATUS
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = "$2" ]
}
STARTED=()
start_registry registry "$REGISTRY" read-only
start_registry registry-writer "$REGISTRY_WRITER" writer
for _ in $(seq 1 100); do
  answers "http://$REGISTRY/v2/" 200 && answers "http://$REGISTRY_WRITER/v2/" 401 && break
  sleep 0.1
done
answers "http://$REGISTRY/v2/" 200 || die "the registry did not start; log: $LAB_STATE/logs/registry.log"
answers "http://$REGISTRY_WRITER/v2/" 401 || die "the registry writer did not start (or does not ask for credentials); log: $LAB_STATE/logs/registry-writer.log"
[ ${#STARTED[@]} -eq 0 ] || note "started: ${STARTED[*]}"
if ! curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REGISTRY/v2/library/busybox/manifests/1.35"; then
  node hack/test-image.mjs "$CLUSTER_DIR/test-image" --push "$REGISTRY_WRITER/library/busybox:1.35" \
    --username "$REGISTRY_PUSH_USER" --password-file "$REG_DIR/push-password" >/dev/null
  note "pushed $REGISTRY_WRITER/library/busybox:1.35 (the nodes pull it as $REGISTRY/library/busybox:1.35)"
fi

step "agents: one per lab host, joined with a fresh bootstrap token"
JOIN=$(flotctl token create --ttl 1h --description "hack/up.sh" --print-join-command)
read -r -a JOIN_ARGS <<<"${JOIN#flotilla-agent }"
for i in $(seq 1 "$NODES"); do
  h="h$i"
  if alive "$LAB_STATE/pids/$h-agent.pid"; then
    note "$h: already running"
    continue
  fi
  ip=$(./hack/lab.sh ip "$h")
  # After a first join the credential in the state dir is used and the token ignored.
  # shellcheck disable=SC2086
  # --max-semi-space-size=1: as the flotilla-agent bin starts it (RSS, see node-agent/main.ts).
  ./hack/lab.sh spawn "$h" agent node --max-semi-space-size=1 "$ROOT/dist/node-agent/main.js" "${JOIN_ARGS[@]}" \
    --node-name "$h" --node-ip "$ip" \
    --state-dir "$CLUSTER_DIR/$h" --run-dir "$LAB_STATE/$h" --cgroup-parent "/flotilla-$LAB_PREFIX/$h" \
    --runtime "$RUNTIME" --insecure-registry "$REGISTRY" --registry-mirror "docker.io=$REGISTRY" \
    --health-port 0 $AGENT_ARGS >/dev/null
  note "$h ($ip): agent started, log $LAB_STATE/logs/$h-agent.log"
done

wait_for() { # wait_for WHAT CHECK-COMMAND... ; prints progress lines while waiting
  local what=$1; shift
  local until=$((SECONDS + WAIT_SECONDS)) last=""
  while :; do
    local out
    if out=$("$@" 2>&1); then printf '%s\n' "$out" | sed 's/^/up:   /'; return 0; fi
    if [ "$out" != "$last" ]; then printf '%s\n' "$out" | sed 's/^/up:   … /'; last=$out; fi
    [ $SECONDS -lt $until ] || die "timed out after ${WAIT_SECONDS}s waiting for $what"
    sleep 1
  done
}
nodes_ready() {
  local out ready
  out=$(flotctl get nodes --no-headers 2>&1) || { echo "$out"; return 1; }
  ready=$(awk '$2 == "Ready"' <<<"$out" | wc -l)
  echo "$ready/$NODES nodes Ready"
  [ "$ready" -ge "$NODES" ]
}
step "waiting for $NODES nodes to be Ready"
wait_for "nodes" nodes_ready

if [ "$DEMO" = 1 ]; then
  step "demo: flotctl apply -f manifests/demo.yaml"
  [ "$NODES" -ge 3 ] || die "the demo puts a web server on each of h1..h3: use --nodes 3 or more (or DEMO=0)"
  # Demo pods that ended (lost with a node, say) are replaced, as a workload controller would.
  ended=$(flotctl get pods -n demo -o json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{for(const p of JSON.parse(s).items)if(["Failed","Succeeded"].includes(p.status?.phase))console.log(p.metadata.name)}catch{}})')
  for p in $ended; do
    flotctl delete pod -n demo "$p" --wait | sed 's/^/up:   /'
  done
  flotctl apply -f manifests/demo.yaml | sed 's/^/up:   /'
  pods_running() {
    local out total running
    out=$(flotctl get pods -n demo --no-headers 2>&1) || { echo "$out"; return 1; }
    total=$(wc -l <<<"$out")
    running=$(awk '$3 == "Running"' <<<"$out" | wc -l)
    echo "$running/$total pods Running: $(awk '{printf "%s=%s ", $1, $3}' <<<"$out")"
    [ "$total" -ge 4 ] && [ "$running" -eq "$total" ]
  }
  wait_for "the demo pods" pods_running
fi

step "the cluster"
flotctl get nodes -o wide
echo
flotctl get pods -A -o wide
echo
flotctl get subnets
step "network check: every node's pods to every other node's (flotctl net check)"
flotctl net check
if [ "$DEMO" = 1 ]; then
  step "the client fetches from each web server across hosts"
  for w in web-h1 web-h2 web-h3; do
    ipaddr=$(flotctl get pod -n demo "$w" -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).status.podIP))')
    printf 'up:   %s (%s): ' "$w" "$ipaddr"
    flotctl exec -n demo client -- wget -qO- "http://$ipaddr:8080/" || echo "(failed)"
  done
fi

cat <<EOF

up: the cluster is up.
  export PATH=$BIN:\$PATH KUBECONFIG=$KUBECONFIG_FILE
  flotctl get pods -A -o wide          # also: kubectl (e.g. /opt/flotilla/kubernetes-client/usr/bin/kubectl)
  flotctl apply -f manifests/pod.yaml && flotctl logs hello
  flotctl exec -n demo client -- ping -c1 <pod IP>
  ./hack/lab.sh exec h1 ip route       # look inside a host
  ./hack/down.sh                       # remove everything (same LAB_PREFIX/LAB_NET)
EOF
