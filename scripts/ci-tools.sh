#!/usr/bin/env bash
# The Python tools of CI (scripts/ci-requirements.txt: schemathesis, hadolint), in a venv of their own.
#
#   scripts/ci-tools.sh ensure     create or update the venv when the pinned requirements changed; print its bin folder
#   scripts/ci-tools.sh bin        print the bin folder (no install)
#
# The venv lives in $KSNET_CACHE_DIR/ci-tools (default ~/.cache/ks-network-apiserver/ci-tools) and is reused while
# scripts/ci-requirements.txt is unchanged.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${KSNET_CACHE_DIR:-$HOME/.cache/ks-network-apiserver}
VENV=$CACHE_DIR/ci-tools
REQUIREMENTS=$ROOT/scripts/ci-requirements.txt

log() { echo "ci-tools: $*" >&2; }

ensure() {
  local wanted
  wanted=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
  if [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$wanted" ]; then
    log "installing $(grep -c '==' "$REQUIREMENTS") pinned packages into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$REQUIREMENTS" >&2
    echo "$wanted" > "$VENV/.requirements"
  fi
  echo "$VENV/bin"
}

case "${1:-}" in
  ensure) ensure ;;
  bin) echo "$VENV/bin" ;;
  *) echo "usage: scripts/ci-tools.sh ensure|bin" >&2; exit 2 ;;
esac
