#!/usr/bin/env bash
# The benchmark suite (results in docs/benchmarks.md):
#
#   scripts/bench.sh PROFILE        PROFILE: small (1,000 pods), large (20,000), xl (100,000); see examples/bench_seed.rs
#
# Starts a fresh control plane (etcd + kube-apiserver 1.20.2, scripts/control-plane.sh) in a temporary folder,
# builds the release server and examples/bench_seed.rs, seeds the profile, waits until the machine is idle again
# (kube-apiserver digests the bulk load), and then, ROUNDS times: starts the release server (`serve`, default
# configuration, like scripts/demo.sh) and records its cold start to ready and RSS
# after sync, drives each page with wrk (the server, then the same selection on kube-apiserver as a baseline),
# repeats the pod pages while pods are written at WRITE_RATE, and measures how fast a pod IP change shows in a pool's
# occupancy. Medians over the rounds replace the profile's section of docs/benchmarks.md.
#
# Environment (all optional):
#   DURATION      wrk duration per page (wrk syntax: 10s, 1m)                              default 10s
#   ROUNDS        rounds; medians are reported                                             default 2
#   WRITE_RATE    pod writes per second during the churn pages                             default 50
#   CONNECTIONS   wrk connections                                                          default 16
#   THREADS       wrk threads                                                              default 2
#   SAMPLES       occupancy samples per round                                              default 10
#   KEEP=1        leave the control plane running at the end (prints how to reach and stop it)
#   CARGO_TARGET_DIR  where cargo builds                                                   default target/
#   BENCH_OUT     the markdown file to update                                              default docs/benchmarks.md
#
# Needs: cargo, curl, jq, awk, and wrk (installed with apt-get when missing; root). Everything runs on this machine,
# so the load generator, kube-apiserver and the server share its cores: compare numbers of one machine only.
set -Eeuo pipefail
trap 'echo "bench: error: line $LINENO failed: $BASH_COMMAND" >&2' ERR

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PROFILE=${1:-}
case "$PROFILE" in
  small | large | xl) ;;
  *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
WRITE_RATE=${WRITE_RATE:-50}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
SAMPLES=${SAMPLES:-10}
KEEP=${KEEP:-0}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_OUT:-$ROOT/docs/benchmarks.md}
# Seconds to wait for the server's caches to sync (a 100,000-pod list takes a while on 2 cores).
case "$PROFILE" in small) READY_TIMEOUT=120 ;; large) READY_TIMEOUT=300 ;; xl) READY_TIMEOUT=1200 ;; esac

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

# seconds DURATION: wrk's duration syntax (10, 10s, 2m, 1h) in whole seconds.
seconds() {
  case "$1" in
    *h) echo $(( ${1%h} * 3600 )) ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
DURATION_S=$(seconds "$DURATION")
[[ "$DURATION_S" =~ ^[0-9]+$ && "$DURATION_S" -gt 0 ]] || die "DURATION=$DURATION is not a duration like 10s"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS=$ROUNDS is not a positive integer"
[ "$CONNECTIONS" -ge "$THREADS" ] || die "CONNECTIONS must be at least THREADS"

# ---------------------------------------------------------------------------------------------------------------
# Tools, ports, control plane, builds
# ---------------------------------------------------------------------------------------------------------------

if ! command -v wrk >/dev/null; then
  log "installing wrk"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk; } >&2; then
    die "wrk is missing and apt-get install wrk failed (run as root, or install wrk)"
  fi
fi
for tool in cargo curl jq awk ss; do command -v "$tool" >/dev/null || die "$tool is required"; done

# free_port BASE: the first port from BASE on that nothing listens on.
free_port() {
  local port=$1
  while [ -n "$(ss -Hltn "sport = :$port")" ]; do port=$((port + 1)); done
  echo "$port"
}
APISERVER_PORT=$(free_port 27443)
ETCD_PORT=$(free_port 23379)
while [ -n "$(ss -Hltn "sport = :$((ETCD_PORT + 1))")" ]; do ETCD_PORT=$(free_port $((ETCD_PORT + 2))); done
SERVER_PORT=$(free_port 29090)

DIR=$(mktemp -d "${TMPDIR:-/tmp}/ksnet-bench-$PROFILE.XXXXXX")
PLANE='' SERVER='' CHURN=''
# stop PID: TERM and reap (no error when it is gone).
stop() {
  if [ -n "$1" ]; then
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}
cleanup() {
  local status=$?
  trap - ERR
  set +e
  stop "$CHURN"
  stop "$SERVER"
  if [ "$status" != 0 ] && [ -d "$DIR" ]; then
    mkdir -p "$DIR.logs" && cp "$DIR"/*.log "$DIR.logs/" 2>/dev/null
    log "failed (status $status); the logs are in $DIR.logs"
  fi
  if [ "$KEEP" = 1 ] && [ -n "$PLANE" ]; then
    log "KEEP=1: the control plane (pid $PLANE) keeps running: export KUBECONFIG=$DIR/kubeconfig-admin"
    log "stop it with: kill $PLANE; rm -rf $DIR"
  else
    stop "$PLANE"
    rm -rf "$DIR"
  fi
  return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# idle_percent [SECONDS]: how idle the machine's CPUs were over the next SECONDS (default 3; everything else
# competes with the run).
idle_percent() {
  local a b
  a=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
  sleep "${1:-3}"
  b=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
    printf "%.0f", (y[2] > x[2]) ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 100 }'
}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
IDLE_BEFORE=$(idle_percent)
log "profile $PROFILE; control plane in $DIR (kube-apiserver :$APISERVER_PORT, etcd :$ETCD_PORT); CPUs ${IDLE_BEFORE} % idle, load average $LOAD_BEFORE"
[ "$IDLE_BEFORE" -ge 90 ] || log "warning: the machine is busy (${IDLE_BEFORE} % idle): the numbers will be noisy"
"$ROOT/scripts/control-plane.sh" run "$DIR" --apiserver-port "$APISERVER_PORT" --etcd-port "$ETCD_PORT" \
  >"$DIR/plane.log" 2>&1 &
PLANE=$!

log "building the release server and examples/bench_seed.rs"
cargo build --release --bin ks-network-apiserver --example bench_seed >&2
SERVER_BIN=$TARGET/release/ks-network-apiserver
SEED=$TARGET/release/examples/bench_seed
eval "$("$SEED" names "$PROFILE")"

KUBECONFIG_ADMIN=$DIR/kubeconfig-admin
TOKEN=$("$ROOT/scripts/control-plane.sh" token admin)
KUBE=https://127.0.0.1:$APISERVER_PORT
SERVER_URL=http://127.0.0.1:$SERVER_PORT
deadline=$((SECONDS + 600))
until curl -skf -H "Authorization: Bearer $TOKEN" "$KUBE/readyz" >/dev/null 2>&1; do
  kill -0 "$PLANE" 2>/dev/null || { cat "$DIR/plane.log" >&2; die "the control plane exited"; }
  [ $SECONDS -lt $deadline ] || die "kube-apiserver not ready after 600 s"
  sleep 0.5
done

log "seeding profile $PROFILE"
seed_started=$(date +%s.%N)
"$SEED" "$KUBECONFIG_ADMIN" "$PROFILE" | tee "$DIR/seed.log" >&2
SEED_SECONDS=$(awk -v a="$seed_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
# kube-apiserver and etcd keep digesting the bulk load for a while after the seeder returns (tens of seconds at
# `xl`); a restarted server meets a steady cluster, so measuring waits until the machine is at least 90 % idle over
# 3 s (at most 300 s).
settle_started=$SECONDS
until [ "$(idle_percent)" -ge 90 ] || [ $((SECONDS - settle_started)) -ge 300 ]; do :; done
SETTLE_SECONDS=$((SECONDS - settle_started))
log "the control plane settled ${SETTLE_SECONDS} s after seeding"
MEASURE_STARTED=$SECONDS

# ---------------------------------------------------------------------------------------------------------------
# Measuring helpers
# ---------------------------------------------------------------------------------------------------------------

LUA=$DIR/report.lua
cat >"$LUA" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

# cpu_ticks PID: utime + stime of the process, in clock ticks.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
CLK_TCK=$(getconf CLK_TCK)

# foreign_ticks [PLANE]: utime + stime + cutime + cstime summed over every process that is neither this script nor
# one of its descendants (children that ended count through their parent's cutime); with PLANE (a pid), the
# processes under PLANE (etcd and kube-apiserver) count as well: what else runs on the machine.
foreign_ticks() {
  # cat fails for processes that ended since the glob: not an error
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | sed 's/^\([0-9]*\) (.*) /\1 /' | awk -v self=$$ -v plane="${1:-}" '
    { parent[$1] = $3; ticks[$1] = $13 + $14 + $15 + $16 }
    END {
      for (p in ticks) {
        q = p; ours = 0
        for (d = 0; d < 64 && q > 1; d++) {
          if (q == plane) break
          if (q == self) { ours = 1; break }
          q = parent[q]
        }
        if (!ours) sum += ticks[p]
      }
      printf "%d\n", sum
    }'
}

# quiet: waits until the machine is at least 90 % idle over 1 s (at most 30 s), so that a run does not meet what
# the one before it left running: after its own load, kube-apiserver's Go garbage collector goes on marking a heap
# of gigabytes at `xl` for a second or more, on both cores.
quiet() {
  local started=$SECONDS
  until [ "$(idle_percent 1)" -ge 90 ]; do
    [ $((SECONDS - started)) -lt 30 ] || { log "  the machine is still busy after 30 s; measuring anyway"; return; }
  done
}

# others KEY COMMAND...: runs COMMAND; R[<round>:<KEY>:others] = the share of one CPU that other processes used
# meanwhile (%). For the server's page runs (KEY is a page number) etcd and kube-apiserver count as others; for
# kube-apiserver's own runs and the churn runs (whose writes they serve) they do not.
others() {
  local key=$1 before started plane=
  shift
  [[ "$key" == [0-9]* ]] && plane=$PLANE
  before=$(foreign_ticks "$plane")
  started=$(date +%s%N)
  "$@"
  R[$round:$key:others]=$(awk -v t=$(($(foreign_ticks "$plane") - before)) -v hz="$CLK_TCK" \
    -v ns=$(($(date +%s%N) - started)) 'BEGIN { printf "%.0f", t * 100 / hz / (ns / 1e9) }')
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# fetch URL: "<http code> <bytes> <matches>" (matches: totalItems, or the length of an array or of .items).
fetch() {
  local code bytes
  read -r code bytes < <(curl -sS -o "$DIR/body" -w '%{http_code} %{size_download}\n' -k \
    -H "Authorization: Bearer $TOKEN" "$1")
  echo "$code $bytes $(jq -r 'if type == "array" then length elif has("totalItems") then .totalItems
    elif has("items") then (.items | length) else "-" end' "$DIR/body" 2>/dev/null || echo -)"
}

# load URL: runs wrk; prints "<req/s> <p50 ms> <p99 ms> <requests> <errors>".
load() {
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s "$LUA" \
    -H "Authorization: Bearer $TOKEN" "$1" 2>&1) || die "wrk failed on $1: $out"
  grep '^WRK ' <<<"$out" | awk '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "%.1f %.2f %.2f %d %d\n", v["requests"] / (v["duration_us"] / 1e6), v["p50_us"] / 1000,
      v["p99_us"] / 1000, v["requests"], v["non2xx"] + v["socket_errors"] }'
}

# Results: R[<round>:<key>] = value; median over rounds with `median KEY`.
declare -A R
median() {
  local key=$1 r values=()
  for ((r = 1; r <= ROUNDS; r++)); do
    if [ -n "${R[$r:$key]:-}" ]; then values+=("${R[$r:$key]}"); fi
  done
  [ ${#values[@]} -gt 0 ] || { echo "-"; return; }
  printf '%s\n' "${values[@]}" | sort -g | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }'
}

# ---------------------------------------------------------------------------------------------------------------
# Pages: display name | server path | kube-apiserver path of the same selection ("" = none) | pod page (1/0)
# ---------------------------------------------------------------------------------------------------------------

V3=/kapis/resources.kubesphere.io/v1alpha3
enc() { sed -e 's/=/%3D/g' -e 's|/|%2F|g' <<<"$1"; }
PAGES=(
  "pods?labelSelector=app=$APP&sortBy=startTime&limit=10|$V3/pods?labelSelector=$(enc "app=$APP")&sortBy=startTime&limit=10|/api/v1/pods?labelSelector=$(enc "app=$APP")&limit=10|1"
  "pods?sortBy=startTime&limit=10|$V3/pods?sortBy=startTime&limit=10|/api/v1/pods?limit=10|1"
  "pods?labelSelector=ippool.network.kubesphere.io/name=$POD_POOL&sortBy=startTime&limit=10|$V3/pods?labelSelector=$(enc "ippool.network.kubesphere.io/name=$POD_POOL")&sortBy=startTime&limit=10||1"
  "namespaces?labelSelector=ippool.network.kubesphere.io/$BOUND_POOL&sortBy=createTime&limit=10|$V3/namespaces?labelSelector=$(enc "ippool.network.kubesphere.io/$BOUND_POOL")&sortBy=createTime&limit=10|/api/v1/namespaces?labelSelector=$(enc "ippool.network.kubesphere.io/$BOUND_POOL")&limit=10|0"
  "namespaces?labelSelector=kubesphere.io/workspace=$WORKSPACE&sortBy=createTime&limit=10|$V3/namespaces?labelSelector=$(enc "kubesphere.io/workspace=$WORKSPACE")&sortBy=createTime&limit=10|/api/v1/namespaces?labelSelector=$(enc "kubesphere.io/workspace=$WORKSPACE")&limit=10|0"
  "namespaces/$NAMESPACE/pods?sortBy=name&limit=10|$V3/namespaces/$NAMESPACE/pods?sortBy=name&limit=10|/api/v1/namespaces/$NAMESPACE/pods?limit=10|1"
  "namespaces/$NAMESPACE/services?limit=10|$V3/namespaces/$NAMESPACE/services?limit=10|/api/v1/namespaces/$NAMESPACE/services?limit=10|0"
  "namespacenetworkpolicies?limit=10|$V3/namespacenetworkpolicies?limit=10|/apis/network.kubesphere.io/v1alpha1/namespacenetworkpolicies?limit=10|0"
  "workspaces?limit=10|$V3/workspaces?limit=10|/apis/tenant.kubesphere.io/v1beta1/workspaces?limit=10|0"
  "network.kubesphere.io/v1alpha2/ippools|/kapis/network.kubesphere.io/v1alpha2/ippools|/apis/crd.projectcalico.org/v1/ippools|0"
)
# What each page should match, from the seed plan (a wrong count stops the run: the numbers would mean nothing).
EXPECTED=("$APP_PODS" "$PODS" "$POD_POOL_PODS" "$BOUND_NAMESPACES" "$WORKSPACE_NAMESPACES" 20 3 "$NSNPS" "$WORKSPACES" "$POOLS")

# ---------------------------------------------------------------------------------------------------------------
# Rounds
# ---------------------------------------------------------------------------------------------------------------

# plane_ticks: utime + stime of the control plane's processes (etcd and kube-apiserver, children of PLANE).
plane_ticks() {
  local pid sum=0
  for pid in $(pgrep -P "$PLANE"); do
    [ -r "/proc/$pid/stat" ] && sum=$((sum + $(cpu_ticks "$pid")))
  done
  echo "$sum"
}

# start_server: starts the server (SERVER = its pid), sets COLD_MS to the time from its start until /readyz is 200,
# and COLD_SERVER_CPU_MS and COLD_PLANE_CPU_MS to the CPU the server and the control plane used meanwhile.
start_server() {
  local started now code plane_before
  plane_before=$(plane_ticks)
  started=$(date +%s%N)
  # The allocator setting the image sets (Dockerfile), so that the numbers are the image's.
  MIMALLOC_ARENA_EAGER_COMMIT=0 "$SERVER_BIN" serve --kubeconfig "$KUBECONFIG_ADMIN" --bind-address "127.0.0.1:$SERVER_PORT" \
    --set server.shutdownDelaySeconds=0 >>"$DIR/server.log" 2>&1 &
  SERVER=$!
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$SERVER_URL/readyz" || true)
    [ "$code" = 200 ] && break
    kill -0 "$SERVER" 2>/dev/null || { tail -n 30 "$DIR/server.log" >&2; die "the server exited"; }
    now=$(date +%s%N)
    [ $(((now - started) / 1000000000)) -lt "$READY_TIMEOUT" ] || die "the server is not ready after $READY_TIMEOUT s"
    sleep 0.01
  done
  now=$(date +%s%N)
  COLD_MS=$(((now - started) / 1000000))
  COLD_SERVER_CPU_MS=$(($(cpu_ticks "$SERVER") * 1000 / CLK_TCK))
  COLD_PLANE_CPU_MS=$((($(plane_ticks) - plane_before) * 1000 / CLK_TCK))
}

stop_server() {
  stop "$SERVER"
  SERVER=
}

# settled_rss PID: VmRSS (kB) once two reads 1 s apart differ by less than 1 % (at most 60 s).
settled_rss() {
  local previous current i
  previous=$(rss_kb "$1")
  for ((i = 0; i < 60; i++)); do
    sleep 1
    current=$(rss_kb "$1")
    if [ $(( (current > previous ? current - previous : previous - current) * 100 )) -lt "$current" ]; then break; fi
    previous=$current
  done
  echo "$current"
}

for ((round = 1; round <= ROUNDS; round++)); do
  log "round $round/$ROUNDS: starting the server"
  quiet
  start_server
  R[$round:cold_ms]=$COLD_MS
  R[$round:cold_server_cpu_ms]=$COLD_SERVER_CPU_MS
  R[$round:cold_plane_cpu_ms]=$COLD_PLANE_CPU_MS
  R[$round:rss_kb]=$(settled_rss "$SERVER")
  log "  ready after ${R[$round:cold_ms]} ms (CPU meanwhile: server $COLD_SERVER_CPU_MS ms, etcd + kube-apiserver $COLD_PLANE_CPU_MS ms), RSS $(( ${R[$round:rss_kb]} / 1024 )) MB"

  for i in "${!PAGES[@]}"; do
    IFS='|' read -r name path base _ <<<"${PAGES[$i]}"
    read -r code bytes matches < <(fetch "$SERVER_URL$path")
    [ "$code" = 200 ] || die "$path answered $code: $(head -c 500 "$DIR/body")"
    [ "$matches" = "${EXPECTED[$i]}" ] || die "$path matched $matches, the seed plan says ${EXPECTED[$i]}"
    R[$round:$i:bytes]=$bytes
    R[$round:$i:matches]=$matches
    quiet
    before=$(cpu_ticks "$SERVER")
    others "$i" load "$SERVER_URL$path" >"$DIR/load"
    read -r rps p50 p99 requests errors <"$DIR/load"
    after=$(cpu_ticks "$SERVER")
    R[$round:$i:rps]=$rps R[$round:$i:p50]=$p50 R[$round:$i:p99]=$p99 R[$round:$i:errors]=$errors
    R[$round:$i:cpu]=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.3f", n ? t * 1000 / hz / n : 0 }')
    log "  $name: $rps req/s, p50 $p50 ms, p99 $p99 ms, ${R[$round:$i:cpu]} ms CPU/req, $bytes bytes, $matches matches$([ "$errors" = 0 ] || echo ", $errors ERRORS"); others ${R[$round:$i:others]} % CPU"
    if [ -n "$base" ]; then
      read -r code bytes _ < <(fetch "$KUBE$base")
      [ "$code" = 200 ] || die "kube-apiserver $base answered $code: $(head -c 500 "$DIR/body")"
      R[$round:$i:kbytes]=$bytes
      quiet
      others "k$i" load "$KUBE$base" >"$DIR/load"
      read -r rps p50 p99 requests errors <"$DIR/load"
      R[$round:$i:krps]=$rps R[$round:$i:kp50]=$p50 R[$round:$i:kp99]=$p99
      log "    kube-apiserver: $rps req/s, p50 $p50 ms, p99 $p99 ms, $bytes bytes; others ${R[$round:k$i:others]} % CPU"
    fi
  done

  for i in "${!PAGES[@]}"; do
    IFS='|' read -r name path _ pod <<<"${PAGES[$i]}"
    [ "$pod" = 1 ] || continue
    quiet
    "$SEED" "$KUBECONFIG_ADMIN" churn "$WRITE_RATE" $((DURATION_S + 2)) >"$DIR/churn.log" 2>&1 &
    CHURN=$!
    sleep 1
    others "c$i" load "$SERVER_URL$path" >"$DIR/load"
    read -r rps p50 p99 requests errors <"$DIR/load"
    wait "$CHURN" || { CHURN=; cat "$DIR/churn.log" >&2; die "the churn writer failed"; }
    CHURN=
    R[$round:$i:crps]=$rps R[$round:$i:cp50]=$p50 R[$round:$i:cp99]=$p99
    R[$round:$i:wrate]=$(sed -n 's/^CHURN .*rate=\([0-9.]*\).*/\1/p' "$DIR/churn.log")
    log "  churn ${R[$round:$i:wrate]} writes/s, $name: $rps req/s, p50 $p50 ms, p99 $p99 ms; others ${R[$round:c$i:others]} % CPU"
  done

  "$SEED" "$KUBECONFIG_ADMIN" occupancy "$SERVER_URL" "$TOKEN" "$SAMPLES" | tee "$DIR/occupancy.log" >&2
  # "<latency> <latency after the status write returned>" per sample
  sed -n 's/^  sample [0-9]*: \([0-9.]*\) ms (status write \([0-9.]*\) ms).*/\1 \2/p' "$DIR/occupancy.log" |
    awk '{ printf "%.1f %.1f\n", $1, $1 - $2 }' >>"$DIR/occupancy-samples"
  stop_server
done

# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------

fmt_int() { [ "$1" = - ] && echo - || printf '%.0f' "$1"; }
fmt_ms() { [ "$1" = - ] && echo - || printf '%.1f' "$1"; }
fmt_cpu() { [ "$1" = - ] && echo - || printf '%.3f' "$1"; }
MEASURE_SECONDS=$((SECONDS - MEASURE_STARTED))
# Other processes' CPU during the wrk runs: "<median> <max> <key of the max>".
read -r OTHERS_MEDIAN OTHERS_MAX OTHERS_WORST < <(for key in "${!R[@]}"; do
  if [[ "$key" == *:others ]]; then echo "${R[$key]} $key"; fi
done | sort -g | awk '{ v[NR] = $1; k[NR] = $2 } END {
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f %.0f %s\n", m, v[NR], k[NR] }')
# worst_page KEY ("<round>:[k|c]<page>:others"): the page's name and which run it was.
worst_page() {
  local i=${1#*:} kind="" name
  i=${i%:others}
  case "$i" in k*) kind=" (kube-apiserver)"; i=${i#k} ;; c*) kind=" (churn)"; i=${i#c} ;; esac
  IFS='|' read -r name _ <<<"${PAGES[$i]}"
  echo "\`$name\`$kind"
}
OCC_N=$(wc -l <"$DIR/occupancy-samples")
# stats COLUMN: "<median> <p90> <max>" of that column of the occupancy samples
stats() {
  cut -d' ' -f"$1" "$DIR/occupancy-samples" | sort -g | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.1f %.1f %.1f\n", m, v[int(NR * 0.9 + 0.999)], v[NR] }'
}
read -r OCC_MEDIAN OCC_P90 OCC_MAX < <(stats 1)
read -r OCC_AFTER_MEDIAN _ OCC_AFTER_MAX < <(stats 2)
COMMIT=$(git rev-parse --short=12 HEAD)
git diff --quiet HEAD -- src crates build.rs Cargo.toml Cargo.lock examples/bench_seed.rs scripts/bench.sh ||
  COMMIT="$COMMIT (with uncommitted changes)"
BRANCH=$(git rev-parse --abbrev-ref HEAD)
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
SECTION=$DIR/section.md
# shellcheck disable=SC2016  # Markdown backticks, not command substitutions
{
  echo "<!-- bench:$PROFILE:begin -->"
  echo "## Profile \`$PROFILE\`: $PODS pods, $NAMESPACES namespaces, $POOLS pools"
  echo
  printf '%s, commit `%s` (branch `%s`): `DURATION=%s ROUNDS=%s WRITE_RATE=%s CONNECTIONS=%s THREADS=%s scripts/bench.sh %s`.\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$COMMIT" "$BRANCH" "$DURATION" "$ROUNDS" "$WRITE_RATE" "$CONNECTIONS" "$THREADS" "$PROFILE"
  printf 'Machine: %s × %s, Linux %s, %s GB; before the run its CPUs were %s %% idle (load average %s).\n' "$(nproc)" \
    "$CPU_MODEL" "$(uname -r)" "$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)" "$IDLE_BEFORE" "$LOAD_BEFORE"
  printf 'Other processes used a median %s %% and at most %s %% of one CPU during the wrk runs (most during %s).\n' \
    "$OTHERS_MEDIAN" "$OTHERS_MAX" "$(worst_page "$OTHERS_WORST")"
  if [ "$IDLE_BEFORE" -lt 90 ] || [ "$OTHERS_MAX" -gt 20 ]; then
    echo "**Something else was using the machine: these numbers are noisy.**"
  fi
  printf 'Seeded in %s s, settled in %s s, measured in %s s: %s pods, %s namespaces, %s workspaces, %s pools, %s IPAM blocks, %s Services, %s NSNPs, %s Deployments (with a ReplicaSet each), %s StatefulSets.\n' \
    "$SEED_SECONDS" "$SETTLE_SECONDS" "$MEASURE_SECONDS" "$PODS" "$NAMESPACES" "$WORKSPACES" "$POOLS" "$BLOCKS" "$SERVICES" "$NSNPS" "$((NAMESPACES * 3))" "$NAMESPACES"
  echo
  echo "Medians of $ROUNDS round(s); wrk \`-t$THREADS -c$CONNECTIONS -d$DURATION\`, admin token; \`/kapis/resources.kubesphere.io/v1alpha3/\` is left out of the page names."
  echo
  echo "| page | matches | req/s | p50 ms | p99 ms | CPU ms/req | bytes | kube-apiserver req/s | p99 ms | bytes |"
  echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
  for i in "${!PAGES[@]}"; do
    IFS='|' read -r name _ base _ <<<"${PAGES[$i]}"
    if [ -n "$base" ]; then
      kube="$(fmt_int "$(median "$i:krps")") | $(fmt_ms "$(median "$i:kp99")") | $(fmt_int "$(median "$i:kbytes")")"
    else
      kube="— | — | —"
    fi
    errors=$(median "$i:errors")
    note=""; [ "$errors" != - ] && [ "$(fmt_int "$errors")" != 0 ] && note=" ($(fmt_int "$errors") errors)"
    printf '| `%s` | %s | %s%s | %s | %s | %s | %s | %s |\n' "$name" "$(median "$i:matches")" \
      "$(fmt_int "$(median "$i:rps")")" "$note" "$(fmt_ms "$(median "$i:p50")")" "$(fmt_ms "$(median "$i:p99")")" \
      "$(fmt_cpu "$(median "$i:cpu")")" "$(fmt_int "$(median "$i:bytes")")" "$kube"
  done
  echo
  echo "kube-apiserver answers the same selection unsorted (it cannot sort) and has no pool label for pods (—)."
  echo
  echo "- Cold start to ready (process start until \`/readyz\` is 200): $(fmt_int "$(median cold_ms)") ms; CPU meanwhile: the server $(fmt_int "$(median cold_server_cpu_ms)") ms, etcd and kube-apiserver $(fmt_int "$(median cold_plane_cpu_ms)") ms"
  echo "- RSS after sync (VmRSS once stable within 1 % over 1 s): $(awk -v k="$(median rss_kb)" 'BEGIN { printf "%.0f", k / 1024 }') MB"
  printf -- '- Occupancy reflects a pod IP change (from the status write to kube-apiserver until `GET .../ippools/<pool>` shows the pool'"'"'s new `status.pods`): median %s ms, p90 %s ms, max %s ms (%s samples)\n' \
    "$OCC_MEDIAN" "$OCC_P90" "$OCC_MAX" "$OCC_N"
  printf -- '  - of which after the write had returned: median %s ms, max %s ms\n' "$OCC_AFTER_MEDIAN" "$OCC_AFTER_MAX"
  echo
  echo "Pod pages while pods are patched (label and annotation) at WRITE_RATE=$WRITE_RATE writes/s:"
  echo
  echo "| page | writes/s achieved | req/s | p50 ms | p99 ms |"
  echo "|---|--:|--:|--:|--:|"
  for i in "${!PAGES[@]}"; do
    IFS='|' read -r name _ _ pod <<<"${PAGES[$i]}"
    [ "$pod" = 1 ] || continue
    echo "| \`$name\` | $(fmt_int "$(median "$i:wrate")") | $(fmt_int "$(median "$i:crps")") | $(fmt_ms "$(median "$i:cp50")") | $(fmt_ms "$(median "$i:cp99")") |"
  done
  echo "<!-- bench:$PROFILE:end -->"
} >"$SECTION"

if [ ! -f "$OUT" ]; then
  cat >"$OUT" <<'HEADER'
# Benchmarks

Measured with `scripts/bench.sh PROFILE` (`small`, `large`, `xl`); anyone can rerun them. Each profile has a section
below that names its machine, date, commit and exact command; rerunning a profile replaces its section (between the
`<!-- bench:PROFILE:begin/end -->` markers), and everything outside the markers is kept.

What one run does, all on the same machine (load generator, kube-apiserver, etcd and the server share its cores, so
compare numbers from one machine only):

1. a fresh etcd + kube-apiserver 1.20.2 (`scripts/control-plane.sh run`) in a temporary folder, removed at the end
   (`KEEP=1` leaves it running);
2. `cargo build --release --bin ks-network-apiserver --example bench_seed`, then `bench_seed <kubeconfig> PROFILE`:
   the CRDs of `config/crds/`, Calico IPPools and IPAM blocks, workspaces, namespaces (some bound to pools),
   Deployments/ReplicaSets/StatefulSets, pods with addresses and owners, Services and NSNPs (`examples/bench_seed.rs`
   says exactly what; `bench_seed names PROFILE` prints the names and counts the pages select);
3. `ROUNDS` times: the release server (`ks-network-apiserver serve --kubeconfig … --bind-address …`, default
   configuration) is started; **cold start** = process start until `/readyz` answers 200 (with the CPU the server and
   the control plane used meanwhile), **RSS** = `VmRSS` once two
   reads 1 s apart differ by less than 1 %; each page is fetched once (bytes; the match count is checked against the
   seed plan) and driven with `wrk -t2 -c16 -d10s` (req/s, p50, p99); **CPU ms/req** = the server's utime + stime
   during the wrk run / requests; the same selection on kube-apiserver (HTTPS, same token) is the baseline; the pod
   pages are driven again while `bench_seed <kubeconfig> churn RATE SECONDS` patches a pod label and annotation
   `WRITE_RATE` times a second; `bench_seed <kubeconfig> occupancy URL TOKEN SAMPLES` moves a pod's `status.podIP`
   into another pool and back and times each change until `GET /kapis/network.kubesphere.io/v1alpha2/ippools/<pool>`
   shows the pool's new `status.pods`;
   every wrk run starts once the machine has been at least 90 % idle for a second, so that it does not meet what
   the run before it left behind (kube-apiserver's garbage collector, after its own runs);
4. medians over the rounds (occupancy: over all samples) go into the profile's section, with how idle the machine
   was before the run and how much CPU every other process on it used during the wrk runs (from `/proc`; during
   the server's runs etcd and kube-apiserver count as other processes): a busy machine is called out, because
   its numbers are noise.

Commands: `scripts/bench.sh small` (about 8 minutes once built), `scripts/bench.sh large` (about 12 minutes with
`ROUNDS=2`), `scripts/bench.sh xl` (seeding alone takes several minutes). Knobs: `DURATION` (10s), `ROUNDS` (2),
`WRITE_RATE` (50), `CONNECTIONS` (16), `THREADS` (2), `SAMPLES` (10), `KEEP=1`; builds go to `CARGO_TARGET_DIR`
(default `target/`).
HEADER
fi
awk -v profile="$PROFILE" -v section="$SECTION" '
  BEGIN { begin = "<!-- bench:" profile ":begin -->"; end = "<!-- bench:" profile ":end -->" }
  $0 == begin { while ((getline line < section) > 0) print line; skipping = 1; replaced = 1; next }
  $0 == end { skipping = 0; next }
  !skipping { print }
  END { if (!replaced) { print ""; while ((getline line < section) > 0) print line } }
' "$OUT" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$SECTION"
log "wrote the $PROFILE section of ${OUT#"$ROOT"/}"
