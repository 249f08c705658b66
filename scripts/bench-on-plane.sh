#!/usr/bin/env bash
# Runs a measuring example against a fresh control plane in a temporary folder (stopped and removed afterwards):
#
#   scripts/bench-on-plane.sh EXAMPLE [ARGS...]     builds `examples/EXAMPLE.rs` (release) and runs it with the
#                                                  admin kubeconfig of the plane followed by ARGS
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
EXAMPLE=${1:?usage: scripts/bench-on-plane.sh EXAMPLE [ARGS...]}
shift
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ksnet-bench.XXXXXX")
"$ROOT/scripts/control-plane.sh" run "$DIR" --apiserver-port 26443 --etcd-port 22379 >"$DIR/run.log" 2>&1 &
PLANE=$!
trap 'kill "$PLANE" 2>/dev/null; wait "$PLANE" 2>/dev/null; rm -rf "$DIR"' EXIT
cargo build --release --example "$EXAMPLE"
until curl -skf -H "Authorization: Bearer ksnet-admin-token" https://127.0.0.1:26443/readyz >/dev/null 2>&1; do
  kill -0 "$PLANE" 2>/dev/null || { cat "$DIR/run.log"; exit 1; }
  sleep 0.5
done
"$ROOT/target/release/examples/$EXAMPLE" "$DIR/kubeconfig-admin" "$@"
