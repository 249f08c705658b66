#!/usr/bin/env bash
# Builds the release binary the Dockerfile's way without docker (which cannot run here), checks it and prints
# its path:
#
#   scripts/release-build.sh        (honours CARGO_TARGET_DIR; CI runs scripts/schemathesis.sh on the result)
#
# It runs the Dockerfile's build stage itself: each COPY from the build context (the files git tracks or does not
# ignore, less .dockerignore's entries) into a scratch folder, each ENV and ARG (KSNET_COMMIT is this commit, as
# the image build passes it), and each RUN there, so the dependency layer and the flags (`--release --locked`,
# no debug info, stripped) are the image's own. The target folder is CARGO_TARGET_DIR instead of /src/target,
# so dependencies are built once across runs. Then: the binary has no symbol table, and `--version` prints the
# package version and this commit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CACHE_DIR=${KSNET_CACHE_DIR:-$HOME/.cache/ks-network-apiserver}
STAGE=$CACHE_DIR/docker-build-stage
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
KSNET_COMMIT=$(git rev-parse --short=12 HEAD)

log() { echo "release-build: $*" >&2; }
die() { echo "release-build: error: $*" >&2; exit 1; }

# The build context: what git has (tracked or not ignored), less .dockerignore's entries (plain names here).
context_files() {
  local ignored=()
  if [ -f .dockerignore ]; then mapfile -t ignored < <(grep -v '^\s*\(#\|$\)' .dockerignore); fi
  git ls-files -co --exclude-standard | while IFS= read -r file; do
    local skip=0 entry
    for entry in "${ignored[@]}"; do
      case "$file" in "$entry" | "$entry"/*) skip=1 ;; esac
    done
    [ "$skip" = 1 ] || [ ! -e "$file" ] || printf '%s\n' "$file"
  done
}

# copy SOURCE... DEST: COPY from the build context into the stage folder.
copy() {
  local dest=${*: -1} sources=("${@:1:$#-1}") source
  for source in "${sources[@]}"; do
    if [ "$source" = . ]; then
      context_files | tar -cf - -T - | tar -xf - -C "$STAGE/$dest"
    elif [ -d "$source" ]; then
      [ "$source" = "$dest" ] || die "COPY $source $dest: a folder is copied to its own name only here"
      context_files | grep "^$source/" | tar -cf - -T - | tar -xf - -C "$STAGE"
    else
      mkdir -p "$(dirname "$STAGE/$dest")"
      cp "$source" "$STAGE/$dest"
    fi
  done
}

# The build stage's instructions, continuation lines joined: from `FROM … AS build` to the next FROM.
instructions=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' Dockerfile |
  awk '/^FROM .* AS build$/ { stage = 1; next } /^FROM / { stage = 0 } stage && /^[A-Z]/')
[ -n "$instructions" ] || die "no build stage (FROM … AS build) in the Dockerfile"

rm -rf "$STAGE"
mkdir -p "$STAGE"
started=$SECONDS
while IFS= read -r line; do
  instruction=${line%% *}
  arguments=${line#* }
  case "$instruction" in
    WORKDIR) ;; # the stage folder
    ENV) eval "export $arguments" ;;
    ARG)
      name=${arguments%%=*}
      [ -n "${!name:-}" ] || eval "export $arguments"
      export "${name?}"
      ;;
    COPY)
      read -ra words <<<"$arguments"
      copy "${words[@]}"
      ;;
    RUN)
      log "RUN ${arguments:0:100}…"
      (cd "$STAGE" && bash -euo pipefail -c "$arguments") >&2
      ;;
    *) die "the build stage has a $instruction instruction, which this script does not run" ;;
  esac
done <<<"$instructions"

BIN=$CARGO_TARGET_DIR/release/ks-network-apiserver
[ -x "$BIN" ] || die "the build stage did not produce $BIN"
log "built $BIN in $((SECONDS - started)) s ($(du -h "$BIN" | cut -f1))"
if readelf -S --wide "$BIN" | grep -q '\.symtab'; then die "$BIN has a symbol table: it is not stripped"; fi
VERSION=$(cargo metadata --no-deps --format-version 1 --locked |
  jq -r '.packages[] | select(.name == "ks-network-apiserver") | .version')
expected="ks-network-apiserver $VERSION (commit $KSNET_COMMIT)"
actual=$("$BIN" --version)
[ "$actual" = "$expected" ] || die "--version printed '$actual', expected '$expected'"
log "stripped; --version: $actual"
echo "$BIN"
