#!/usr/bin/env bash
# Tests the OpenAPI document against the real server with schemathesis (every check), as CI does:
#
#   scripts/schemathesis.sh [BINARY]
#
# Starts a fresh control plane in a temporary folder (etcd + kube-apiserver, scripts/control-plane.sh), seeds it with
# the demo cluster (scripts/demo.sh --seed-only: CRDs, pools, blocks, namespaces, pods, policies), starts BINARY as
# the image does (mode `all`, the default configuration file), checks that it answers /healthz, then runs
# `st run <server>/openapi.json` with every check (scripts/schemathesis.toml says which operations skip which
# check, and why) and the admin token; the public operations are called too, and the `ignored_auth` check also
# calls the others without a token. Exits non-zero on any finding. Everything it started is stopped and removed
# at the end; on failure the logs and the JUnit report stay in a folder it names.
#
# BINARY defaults to the release binary built the Dockerfile's way (scripts/release-build.sh).
# Environment (optional):
#   KSNET_ST_MAX_EXAMPLES   test cases per operation and phase   (default 30)
#   KSNET_ST_SEED           hypothesis seed                      (default 1; "random" for a new one each run)
#   KSNET_ST_ARGS           more arguments for `st run`
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MAX_EXAMPLES=${KSNET_ST_MAX_EXAMPLES:-30}
SEED=${KSNET_ST_SEED:-1}

log() { echo "schemathesis: $*" >&2; }
die() { echo "schemathesis: error: $*" >&2; exit 1; }

# free_port BASE: the first port from BASE that no TCP socket uses. The bases lie below the kernel's ephemeral range
# (32768 and up), where a busy machine's outgoing connections would take a chosen port before it is bound.
free_port() {
  local port=$1
  while [ -n "$(ss -Htan "sport = :$port")" ]; do port=$((port + 1)); done
  echo "$port"
}

BIN=${1:-}
if [ -z "$BIN" ]; then BIN=$("$ROOT/scripts/release-build.sh"); fi
[ -x "$BIN" ] || die "$BIN is not an executable"
TOOLS=$("$ROOT/scripts/ci-tools.sh" ensure)

DIR=$(mktemp -d "${TMPDIR:-/tmp}/ksnet-schemathesis.XXXXXX")
export KSNET_DEMO_DIR=$DIR/plane
export KSNET_DEMO_APISERVER_PORT KSNET_DEMO_ETCD_PORT KSNET_DEMO_ETCD_PEER_PORT
KSNET_DEMO_APISERVER_PORT=$(free_port 25443)
KSNET_DEMO_ETCD_PORT=$(free_port 21379)
while [ -n "$(ss -Htan "sport = :$((KSNET_DEMO_ETCD_PORT + 1))")" ]; do
  KSNET_DEMO_ETCD_PORT=$(free_port $((KSNET_DEMO_ETCD_PORT + 2)))
done
KSNET_DEMO_ETCD_PEER_PORT=$((KSNET_DEMO_ETCD_PORT + 1))
SERVER_PORT=$(free_port 25090)
SERVER=''

cleanup() {
  local status=$?
  set +e
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; fi
  "$ROOT/scripts/control-plane.sh" stop >/dev/null 2>&1
  if [ "$status" != 0 ]; then
    mkdir -p "$DIR.logs"
    cp "$DIR"/*.log "$DIR"/plane/*.log "$DIR.logs/" 2>/dev/null
    cp -r "$DIR/report" "$DIR.logs/" 2>/dev/null
    log "failed (status $status); logs and the report are in $DIR.logs"
  fi
  rm -rf "$DIR"
  return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
log "control plane in $DIR (kube-apiserver :$KSNET_DEMO_APISERVER_PORT), seeding the demo cluster"
"$ROOT/scripts/demo.sh" --seed-only >"$DIR/seed.log" 2>&1 || { tail -n 30 "$DIR/seed.log" >&2; die "seeding failed"; }
KUBECONFIG_ADMIN=$("$ROOT/scripts/control-plane.sh" kubeconfig admin)
TOKEN=$("$ROOT/scripts/control-plane.sh" token admin)

URL=http://127.0.0.1:$SERVER_PORT
log "starting $BIN on $URL"
"$BIN" all --config "$ROOT/config/ks-network-apiserver.yaml" --kubeconfig "$KUBECONFIG_ADMIN" \
  --bind-address "127.0.0.1:$SERVER_PORT" >"$DIR/server.log" 2>&1 &
SERVER=$!
# The image's binary starts and answers /healthz (no token), then becomes ready.
deadline=$((SECONDS + 30))
until [ "$(curl -s "$URL/healthz" 2>/dev/null)" = ok ]; do
  kill -0 "$SERVER" 2>/dev/null || { tail -n 30 "$DIR/server.log" >&2; die "the server exited"; }
  [ $SECONDS -lt $deadline ] || die "no 'ok' from $URL/healthz after 30 s"
  sleep 0.2
done
log "/healthz answers ok"
deadline=$((SECONDS + 60))
until curl -sf "$URL/readyz" >/dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || { curl -s "$URL/readyz?verbose" >&2; die "not ready after 60 s"; }
  sleep 0.2
done
log "ready after $((SECONDS - started)) s; running schemathesis (at most $MAX_EXAMPLES examples per operation, seed $SEED)"

seed_args=(--seed "$SEED")
[ "$SEED" = random ] && seed_args=()
# From the temporary folder, where schemathesis keeps its caches.
# shellcheck disable=SC2086  # KSNET_ST_ARGS is a list of arguments
(cd "$DIR" && "$TOOLS/st" --config-file "$ROOT/scripts/schemathesis.toml" run "$URL/openapi.json" \
  --max-examples "$MAX_EXAMPLES" "${seed_args[@]}" \
  -H "Authorization: Bearer $TOKEN" \
  --report junit --report-dir "$DIR/report" ${KSNET_ST_ARGS:-})
log "no findings (whole step $((SECONDS - started)) s)"
