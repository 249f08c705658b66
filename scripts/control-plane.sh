#!/usr/bin/env bash
# Local test control plane: etcd + kube-apiserver on loopback.
#
# Binaries:
#   scripts/control-plane.sh ensure          make sure the binaries exist (build kube-apiserver once, cached)
#   scripts/control-plane.sh assets          print the folder holding `etcd` and `kube-apiserver`
#
# A control plane in a folder DIR (what the Rust test harness in tests/it/support/ uses):
#   scripts/control-plane.sh run DIR [PORTS]        FOREGROUND: ensure + pki, then etcd and kube-apiserver as
#                                                   children; both are killed when the script exits or gets TERM/INT
#   scripts/control-plane.sh pki DIR [PORTS]        create (only if missing) CA, serving cert, service-account keys,
#                                                   front-proxy CA + client cert; (re)write tokens.csv and
#                                                   DIR/kubeconfig-<user> for https://127.0.0.1:<apiserver-port>
#   scripts/control-plane.sh etcd DIR [PORTS]       exec etcd (data in DIR/etcd, log appended to DIR/etcd.log)
#   scripts/control-plane.sh apiserver DIR [PORTS]  exec kube-apiserver (log appended to DIR/kube-apiserver.log)
#   PORTS: --apiserver-port N (default 16443), --etcd-port N (default 12379), --etcd-peer-port N (default etcd port + 1)
#   `etcd` and `apiserver` replace the script with the binary (exec), so the caller's child IS the binary.
#
# The demo control plane (state in $KSNET_DEMO_DIR, default ~/.cache/ks-network-apiserver/demo; data kept across
# stop/start; ports from $KSNET_DEMO_APISERVER_PORT, $KSNET_DEMO_ETCD_PORT, $KSNET_DEMO_ETCD_PEER_PORT):
#   scripts/control-plane.sh start           `run` it in the background and wait until /readyz is ok (idempotent)
#   scripts/control-plane.sh stop            stop what `start` started (no error when not running)
#   scripts/control-plane.sh env             print `export KUBECONFIG=...` (the admin kubeconfig)
#   scripts/control-plane.sh kubeconfig USER print the path of USER's kubeconfig
#   scripts/control-plane.sh token USER      print USER's bearer token
#
# Users (static tokens, --token-auth-file): admin (group system:masters), alice, bob, carol, dave (no groups,
# RBAC grants them nothing); the token of USER is `ksnet-USER-token`.
#
# Binaries come from $KUBEBUILDER_ASSETS when it holds both `etcd` and `kube-apiserver` (envtest convention);
# otherwise kube-apiserver is built once from Debian's Kubernetes 1.20.2 source package and cached in
# $KSNET_CACHE_DIR (default ~/.cache/ks-network-apiserver), and etcd comes from Debian's etcd-server.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
CACHE_DIR=${KSNET_CACHE_DIR:-$HOME/.cache/ks-network-apiserver}
ASSETS_DIR="$CACHE_DIR/assets"
DEMO_DIR=${KSNET_DEMO_DIR:-$CACHE_DIR/demo}
DEMO_APISERVER_PORT=${KSNET_DEMO_APISERVER_PORT:-16443}
DEMO_ETCD_PORT=${KSNET_DEMO_ETCD_PORT:-12379}
DEMO_ETCD_PEER_PORT=${KSNET_DEMO_ETCD_PEER_PORT:-$((DEMO_ETCD_PORT + 1))}
K8S_VERSION=1.20.2
USERS=(admin alice bob carol dave)
READY_TIMEOUT=60   # seconds to wait for /readyz

log() { echo "control-plane: $*" >&2; }

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >&2; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

assets_dir() {
  if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ]; then
    echo "$KUBEBUILDER_ASSETS"
  else
    echo "$ASSETS_DIR"
  fi
}

enable_deb_src() {
  local src=/etc/apt/sources.list.d/ksnet-deb-src.sources
  [ -f "$src" ] && return 0
  # Same mirrors and suites as the machine's own binary sources, for source packages.
  sed -e 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$src"
  APT_UPDATED=
}

build_kube_apiserver() {
  apt_install golang-go rsync make dpkg-dev golang-github-modern-go-reflect2-dev ca-certificates
  enable_deb_src
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >&2; APT_UPDATED=1; fi
  local work="$CACHE_DIR/build"
  rm -rf "$work"; mkdir -p "$work"
  log "fetching the kubernetes $K8S_VERSION source package"
  (cd "$work" && apt-get source -qq --download-only "kubernetes=$K8S_VERSION*" >&2 || apt-get source -qq --download-only kubernetes >&2)
  (cd "$work" && dpkg-source --no-check -x ./kubernetes_*.dsc src >&2)
  local tree="$work/src"
  # Go >= 1.18 needs reflect2 >= 1.0.2 (older copies crash in map iteration on the first custom resource).
  rm -rf "$tree/vendor/github.com/modern-go/reflect2"
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$tree/vendor/github.com/modern-go/reflect2"
  mkdir -p "$tree/.go/src/k8s.io"
  ln -sfn ../../.. "$tree/.go/src/k8s.io/kubernetes"
  log "building kube-apiserver (about 6 minutes on 2 cores)"
  (cd "$tree/.go/src/k8s.io/kubernetes" && GOPATH="$tree/.go" GO111MODULE=off GOFLAGS=-mod=vendor CGO_ENABLED=0 \
     make WHAT=cmd/kube-apiserver >&2)
  local bin
  bin=$(find "$tree/_output" -type f -name kube-apiserver -perm -u+x | head -n 1)
  [ -n "$bin" ] || { log "kube-apiserver was not built"; exit 1; }
  mkdir -p "$ASSETS_DIR"
  cp "$bin" "$ASSETS_DIR/kube-apiserver.tmp" && mv "$ASSETS_DIR/kube-apiserver.tmp" "$ASSETS_DIR/kube-apiserver"
  rm -rf "$work"
}

ensure() {
  local dir; dir=$(assets_dir)
  if [ "$dir" != "$ASSETS_DIR" ]; then log "using KUBEBUILDER_ASSETS=$dir"; return 0; fi
  mkdir -p "$ASSETS_DIR"
  apt_install etcd-server openssl curl
  ln -sfn /usr/bin/etcd "$ASSETS_DIR/etcd"
  if [ ! -x "$ASSETS_DIR/kube-apiserver" ]; then build_kube_apiserver; fi
  "$ASSETS_DIR/kube-apiserver" --version >&2
}


# ---------------------------------------------------------------------------------------------------------------
# Users and options
# ---------------------------------------------------------------------------------------------------------------

die() { log "$*"; exit 1; }

check_user() {
  local u
  for u in "${USERS[@]}"; do [ "$u" = "${1:-}" ] && return 0; done
  die "unknown user '${1:-}' (one of: ${USERS[*]})"
}

token_of() { echo "ksnet-$1-token"; }

# parse_dir_and_ports DIR [--apiserver-port N] [--etcd-port N] [--etcd-peer-port N]
# sets DIR (absolute), APISERVER_PORT, ETCD_PORT, ETCD_PEER_PORT.
parse_dir_and_ports() {
  if [ $# -lt 1 ] || [ -z "$1" ] || [ "${1#--}" != "$1" ]; then die "missing DIR argument"; fi
  mkdir -p "$1"
  DIR=$(cd "$1" && pwd)
  shift
  APISERVER_PORT=$DEMO_APISERVER_PORT
  ETCD_PORT=$DEMO_ETCD_PORT
  ETCD_PEER_PORT=
  while [ $# -gt 0 ]; do
    case "$1" in
      --apiserver-port) APISERVER_PORT=${2:?--apiserver-port needs a value}; shift 2 ;;
      --etcd-port) ETCD_PORT=${2:?--etcd-port needs a value}; shift 2 ;;
      --etcd-peer-port) ETCD_PEER_PORT=${2:?--etcd-peer-port needs a value}; shift 2 ;;
      *) die "unknown option '$1'" ;;
    esac
  done
  ETCD_PEER_PORT=${ETCD_PEER_PORT:-$((ETCD_PORT + 1))}
}

# ---------------------------------------------------------------------------------------------------------------
# PKI, tokens, kubeconfigs
# ---------------------------------------------------------------------------------------------------------------

# new_key FILE ec|rsa: a private key (PKCS#8 PEM), only if FILE is missing.
new_key() {
  [ -f "$1" ] && return 0
  case "$2" in
    ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.tmp" 2>/dev/null ;;
    rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.tmp" 2>/dev/null ;;
  esac
  chmod 600 "$1.tmp"
  mv "$1.tmp" "$1"
}

# new_cert NAME SUBJECT EXTENSIONS [CA_NAME]: DIR/NAME.crt for the key DIR/NAME.key, signed by DIR/CA_NAME.{crt,key}
# (self-signed without CA_NAME), only if missing. EXTENSIONS is an openssl extension-file body.
new_cert() {
  local name=$1 subject=$2 ext=$3 ca=${4:-}
  [ -f "$DIR/$name.crt" ] && return 0
  new_key "$DIR/$name.key" ec
  local signer=(-signkey "$DIR/$name.key")
  [ -n "$ca" ] && signer=(-CA "$DIR/$ca.crt" -CAkey "$DIR/$ca.key")
  openssl req -new -key "$DIR/$name.key" -subj "$subject" -out "$DIR/$name.csr"
  openssl x509 -req -in "$DIR/$name.csr" "${signer[@]}" -days 3650 -sha256 \
    -set_serial "0x$(openssl rand -hex 8)" -extfile <(printf '%s\n' "$ext") -out "$DIR/$name.crt.tmp" 2>/dev/null
  rm -f "$DIR/$name.csr"
  mv "$DIR/$name.crt.tmp" "$DIR/$name.crt"
}

CA_EXT='basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier=hash'

# pki DIR: keys and certificates (kept when present), tokens.csv and one kubeconfig per user (always rewritten,
# for the current apiserver port).
pki() {
  parse_dir_and_ports "$@"
  # The cluster CA: signs the serving cert; also --client-ca-file.
  new_cert ca "/CN=ksnet-test-ca" "$CA_EXT"
  new_cert apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:198.51.100.1,DNS:localhost
authorityKeyIdentifier=keyid" ca
  # Front proxy (aggregated APIs): the CA that kube-apiserver trusts for request headers, and its client cert.
  new_cert front-proxy-ca "/CN=ksnet-front-proxy-ca" "$CA_EXT"
  new_cert front-proxy-client "/CN=front-proxy-client" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
authorityKeyIdentifier=keyid" front-proxy-ca
  # Service-account token signing key pair.
  new_key "$DIR/sa.key" rsa
  [ -f "$DIR/sa.pub" ] || openssl pkey -in "$DIR/sa.key" -pubout -out "$DIR/sa.pub"

  # Static token users: token,user,uid[,"groups"].
  {
    local u
    for u in "${USERS[@]}"; do
      if [ "$u" = admin ]; then
        echo "$(token_of "$u"),$u,$u,\"system:masters\""
      else
        echo "$(token_of "$u"),$u,$u"
      fi
    done
  } > "$DIR/tokens.csv"

  local ca_data u
  ca_data=$(base64 -w0 < "$DIR/ca.crt")
  for u in "${USERS[@]}"; do
    cat > "$DIR/kubeconfig-$u" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: ksnet
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $ca_data
users:
- name: $u
  user:
    token: $(token_of "$u")
contexts:
- name: $u@ksnet
  context:
    cluster: ksnet
    user: $u
current-context: $u@ksnet
KUBECONFIG
  done
}

# ---------------------------------------------------------------------------------------------------------------
# The two binaries (exec: the caller's child process becomes the binary itself)
# ---------------------------------------------------------------------------------------------------------------

exec_etcd() {
  parse_dir_and_ports "$@"
  exec >>"$DIR/etcd.log" 2>&1
  exec "$(assets_dir)/etcd" \
    --name=default \
    --data-dir="$DIR/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="default=http://127.0.0.1:$ETCD_PEER_PORT" \
    --logger=zap --log-outputs=stderr --log-level=warn
}

exec_apiserver() {
  parse_dir_and_ports "$@"
  [ -f "$DIR/tokens.csv" ] || die "$DIR has no PKI: run \`$0 pki $DIR\` first"
  exec >>"$DIR/kube-apiserver.log" 2>&1
  exec "$(assets_dir)/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" --insecure-port=0 \
    --advertise-address=127.0.0.1 \
    --endpoint-reconciler-type=none \
    --tls-cert-file="$DIR/apiserver.crt" --tls-private-key-file="$DIR/apiserver.key" \
    --client-ca-file="$DIR/ca.crt" \
    --token-auth-file="$DIR/tokens.csv" \
    --authorization-mode=RBAC \
    --disable-admission-plugins=ServiceAccount \
    --service-cluster-ip-range=10.96.0.0/16 \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$DIR/sa.pub" \
    --service-account-signing-key-file="$DIR/sa.key" \
    --requestheader-client-ca-file="$DIR/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$DIR/front-proxy-client.crt" \
    --proxy-client-key-file="$DIR/front-proxy-client.key" \
    --enable-aggregator-routing=true \
    --allow-privileged=true
}

# ---------------------------------------------------------------------------------------------------------------
# run (foreground), start/stop (demo, background)
# ---------------------------------------------------------------------------------------------------------------

# is_ready DIR PORT: kube-apiserver answers `ok` on /readyz to the admin.
is_ready() {
  [ "$(curl -sS --noproxy '*' --max-time 2 --cacert "$1/ca.crt" -H "Authorization: Bearer $(token_of admin)" \
        "https://127.0.0.1:$2/readyz" 2>/dev/null)" = ok ]
}

# wait_ready DIR PORT [PID]: poll /readyz for up to READY_TIMEOUT seconds (giving up early when PID exits); on
# failure print the end of the apiserver log and return 1.
wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT))
  while ! is_ready "$1" "$2"; do
    if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then
      log "the control plane exited before it was ready"
      break
    fi
    if [ $SECONDS -ge $deadline ]; then
      log "kube-apiserver not ready after ${READY_TIMEOUT}s"
      break
    fi
    sleep 0.2
  done
  is_ready "$1" "$2" && return 0
  log "last 30 lines of $1/kube-apiserver.log:"
  tail -n 30 "$1/kube-apiserver.log" >&2 || true
  return 1
}

# stop_pids PID...: TERM, then KILL whatever still runs after 15 s; reap.
stop_pids() {
  local pid deadline=$((SECONDS + 15))
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

CHILDREN=()
run_cleanup() {
  trap - EXIT INT TERM
  if [ ${#CHILDREN[@]} -gt 0 ]; then stop_pids "${CHILDREN[@]}"; fi
  CHILDREN=()
}

# spawn SUBCOMMAND ARGS...: this script's SUBCOMMAND as a background child that dies with this shell even when
# the shell is SIGKILLed (setpriv sets the parent-death signal, which survives the exec into the binary).
spawn() {
  if command -v setpriv >/dev/null; then
    setpriv --pdeathsig TERM "$SELF" "$@" &
  else
    "$SELF" "$@" &
  fi
  CHILDREN+=("$!")
}

run() {
  ensure
  parse_dir_and_ports "$@"
  local ports=(--apiserver-port "$APISERVER_PORT" --etcd-port "$ETCD_PORT" --etcd-peer-port "$ETCD_PEER_PORT")
  pki "$DIR" "${ports[@]}"
  trap 'run_cleanup; exit 130' INT
  trap 'run_cleanup; exit 143' TERM
  trap 'run_cleanup' EXIT
  spawn etcd "$DIR" "${ports[@]}"
  spawn apiserver "$DIR" "${ports[@]}"
  log "etcd (pid ${CHILDREN[0]}, 127.0.0.1:$ETCD_PORT) and kube-apiserver (pid ${CHILDREN[1]}) starting; logs in $DIR"
  wait_ready "$DIR" "$APISERVER_PORT" || exit 1
  log "ready: https://127.0.0.1:$APISERVER_PORT (KUBECONFIG=$DIR/kubeconfig-admin)"
  local status=0
  wait -n "${CHILDREN[@]}" || status=$?
  log "a control-plane process exited (status $status); stopping the other"
  exit 1
}

PID_FILE="$DEMO_DIR/control-plane.pid"

# demo_pid: the pid of the running `run` that `start` started, if any.
demo_pid() {
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid=$(cat "$PID_FILE")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: it must be this script's `run`.
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "control-plane.sh run " || return 1
  echo "$pid"
}

start() {
  local pid
  if pid=$(demo_pid); then
    if is_ready "$DEMO_DIR" "$DEMO_APISERVER_PORT"; then
      log "already running (pid $pid): https://127.0.0.1:$DEMO_APISERVER_PORT"
      return 0
    fi
    log "already started (pid $pid), waiting for it to be ready"
    wait_ready "$DEMO_DIR" "$DEMO_APISERVER_PORT" "$pid" || exit 1
    return 0
  fi
  ensure
  mkdir -p "$DEMO_DIR"
  # setsid: not tied to the caller's terminal; `stop` ends it (its trap stops etcd and kube-apiserver).
  setsid "$SELF" run "$DEMO_DIR" --apiserver-port "$DEMO_APISERVER_PORT" --etcd-port "$DEMO_ETCD_PORT" \
    --etcd-peer-port "$DEMO_ETCD_PEER_PORT" >"$DEMO_DIR/run.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" > "$PID_FILE"
  log "started (pid $pid), state in $DEMO_DIR; waiting for https://127.0.0.1:$DEMO_APISERVER_PORT/readyz"
  if ! wait_ready "$DEMO_DIR" "$DEMO_APISERVER_PORT" "$pid"; then
    stop
    exit 1
  fi
  log "ready; $(env_line)"
}

stop() {
  local pid
  if pid=$(demo_pid); then
    log "stopping pid $pid"
    stop_pids "$pid"
  fi
  rm -f "$PID_FILE"
}

env_line() { echo "export KUBECONFIG=$DEMO_DIR/kubeconfig-admin"; }

usage() {
  sed -n '2,/^set -euo/p' "$SELF" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  ensure) ensure ;;
  assets) assets_dir ;;
  run) run "$@" ;;
  pki) pki "$@" ;;
  etcd) exec_etcd "$@" ;;
  apiserver) exec_apiserver "$@" ;;
  start) start ;;
  stop) stop ;;
  env) env_line ;;
  kubeconfig) check_user "${1:-}"; echo "$DEMO_DIR/kubeconfig-$1" ;;
  token) check_user "${1:-}"; token_of "$1" ;;
  *) usage ;;
esac
