#!/usr/bin/env bash
# Measures the NetworkPolicy controller at scale (docs/controller.md): a fresh control plane in a temporary folder,
# then `examples/controller_scale.rs` seeds it and runs the controller in-process.
#
#   scripts/bench-controller.sh [NAMESPACES [NSNPS_PER_NAMESPACE]]     defaults: 1000 namespaces, 5 NSNPs each
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ksnet-bench-controller.XXXXXX")
"$ROOT/scripts/control-plane.sh" run "$DIR" --apiserver-port 26443 --etcd-port 22379 >"$DIR/run.log" 2>&1 &
PLANE=$!
trap 'kill "$PLANE" 2>/dev/null; wait "$PLANE" 2>/dev/null; rm -rf "$DIR"' EXIT
cargo build --release --example controller_scale
until curl -skf -H "Authorization: Bearer ksnet-admin-token" https://127.0.0.1:26443/readyz >/dev/null 2>&1; do
  kill -0 "$PLANE" 2>/dev/null || { cat "$DIR/run.log"; exit 1; }
  sleep 0.5
done
"$ROOT/target/release/examples/controller_scale" "$DIR/kubeconfig-admin" "${1:-1000}" "${2:-5}"
