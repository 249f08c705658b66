#!/usr/bin/env bash
# Measures the NetworkPolicy controller at scale (docs/controller.md) on a fresh control plane:
#
#   scripts/bench-controller.sh [NAMESPACES [NSNPS_PER_NAMESPACE]]     defaults: 1000 namespaces, 5 NSNPs each
exec "$(dirname "$0")/bench-on-plane.sh" controller_scale "${1:-1000}" "${2:-5}"
