#!/usr/bin/env bash
# One-command demo: a local Kubernetes 1.20 control plane seeded with a realistic Calico + KubeSphere cluster, and
# ks-network-apiserver serving it.
#
#   scripts/demo.sh              start the control plane, install the CRDs, seed config/demo/, then build and run the
#                                server in the foreground (mode `all`: HTTP API + controller) on 127.0.0.1:9090
#   scripts/demo.sh --seed-only  everything except running the server (tests and CI use this)
#   scripts/demo.sh --stop       stop the control plane started by an earlier run
#
# Re-running is safe and fast: every step converges on the seed, and unchanged objects are not written again.
#
# Environment (all optional):
#   KSNET_DEMO_BIND       server listen address                           (default 127.0.0.1:9090)
#   KSNET_CONTROL_PLANE   control-plane script                            (default scripts/control-plane.sh)
#   KSNET_CRDS_DIR        CRD manifests, applied recursively              (default config/crds)
#   KSNET_SEED_DIR        seed manifests, *.yaml in name order            (default config/demo)
#
# What the seed contains and the pool occupancy it must produce: the header comments of config/demo/*.yaml
# (expected numbers per pool in config/demo/20-ipamblocks.yaml).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIND=${KSNET_DEMO_BIND:-127.0.0.1:9090}
CONTROL_PLANE=${KSNET_CONTROL_PLANE:-$ROOT/scripts/control-plane.sh}
CRDS_DIR=${KSNET_CRDS_DIR:-$ROOT/config/crds}
SEED_DIR=${KSNET_SEED_DIR:-$ROOT/config/demo}

# ======================================= BEGIN DEMO REQUESTS ===========================================
# The ready-to-paste commands printed before the server starts. This is the only place that lists them: add or
# remove lines as endpoints land. In the heredoc, `$API`, `$KC` and `$CP` are expanded when printing; `\$TOKEN`
# stays literal and refers to the `export TOKEN=...` line printed first.
print_demo_requests() {
  local API=http://$BIND KC CP
  KC=$(printf %q "$KUBECONFIG")
  CP=$(printf %q "$CONTROL_PLANE")
  printf 'export TOKEN=%q\n' "$TOKEN"
  cat <<EOF

# health (no token)
curl -s $API/readyz; echo

# IP pools with occupancy status (expected numbers: header of config/demo/20-ipamblocks.yaml)
curl -s -H "Authorization: Bearer \$TOKEN" $API/kapis/network.kubesphere.io/v1alpha2/ippools | jq .
curl -s -H "Authorization: Bearer \$TOKEN" $API/kapis/network.kubesphere.io/v1alpha2/ippools/default-ipv4-ippool | jq .status
# pools namespace shop may use; pools that pool-disabled can be migrated to
curl -s -H "Authorization: Bearer \$TOKEN" $API/kapis/network.kubesphere.io/v1alpha2/namespaces/shop/ippools | jq '.[].metadata.name'
curl -s -H "Authorization: Bearer \$TOKEN" $API/kapis/network.kubesphere.io/v1alpha2/ippools/pool-disabled/migrate | jq '.items[].metadata.name'
# migration plan pool-disabled -> pool-b, dry run (writes nothing)
curl -s -H "Authorization: Bearer \$TOKEN" -X POST -d 'oldippool=pool-disabled&newippool=pool-b&dryRun=true' $API/kapis/network.kubesphere.io/v1alpha2/ippoolmigrations | jq .

# pods that got their address from the default pool (virtual label), newest first
curl -s -H "Authorization: Bearer \$TOKEN" "$API/kapis/resources.kubesphere.io/v1alpha3/pods?labelSelector=ippool.network.kubesphere.io/name=default-ipv4-ippool&sortBy=startTime&limit=10" | jq '.totalItems, [.items[] | .metadata.namespace + "/" + .metadata.name]'
# namespaces bound to pool-disabled (legacy: by a hand-set Calico annotation only)
curl -s -H "Authorization: Bearer \$TOKEN" "$API/kapis/resources.kubesphere.io/v1alpha3/namespaces?labelSelector=ippool.network.kubesphere.io/pool-disabled" | jq '[.items[].metadata.name]'

# namespace network policies of the isolated namespace secure (console labels, derived when not stored), all NetworkPolicies
curl -s -H "Authorization: Bearer \$TOKEN" "$API/kapis/network.kubesphere.io/v1alpha1/namespaces/secure/namespacenetworkpolicies?sortBy=createTime&limit=10" | jq '.metadata, [.items[] | {name: .metadata.name, labels: .metadata.labels}]'
curl -s -H "Authorization: Bearer \$TOKEN" $API/kapis/networking.k8s.io/v1/networkpolicies | jq '[.items[] | .metadata.namespace + "/" + .metadata.name]'
# create an NSNP through /kapis as the caller (201), then delete it
curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -X POST $API/kapis/network.kubesphere.io/v1alpha1/namespaces/demo/namespacenetworkpolicies -d '{"metadata":{"name":"try-me","labels":{"kubesphere.io/policy-type":"egress","kubesphere.io/policy-traffic":"outside"}},"spec":{"egress":[{"ports":[{"port":443,"protocol":"TCP"}],"to":[{"ipBlock":{"cidr":"10.10.10.0/24"}}]}]}}' | jq .metadata.uid
curl -s -H "Authorization: Bearer \$TOKEN" -X DELETE $API/kapis/network.kubesphere.io/v1alpha1/namespaces/demo/namespacenetworkpolicies/try-me | jq .status

# per-pool metrics; the pool list as user alice, who has no RBAC grants (expect 403)
curl -s -H "Authorization: Bearer \$TOKEN" $API/metrics | grep '^ks_network_ippool_'
curl -s -H "Authorization: Bearer \$($CP token alice)" $API/kapis/network.kubesphere.io/v1alpha2/ippools | jq .

# the seeded objects, straight from kube-apiserver
export KUBECONFIG=$KC; kubectl get ippools.crd.projectcalico.org,ipamblocks.crd.projectcalico.org
EOF
}
# ======================================== END DEMO REQUESTS ============================================

log() { echo "demo: $*" >&2; }
die() { echo "demo: error: $*" >&2; exit 1; }

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; }

cp_cmd() { "$CONTROL_PLANE" "$@"; }

# Summarises `kubectl apply` output: one count per outcome, and the names of objects that changed (not on a first
# run, where everything is created).
report_changes() {
  local out=$1 what=$2 created configured unchanged
  created=$(grep -c ' created$' <<<"$out" || true)
  configured=$(grep -c ' configured$' <<<"$out" || true)
  unchanged=$(grep -c ' unchanged$' <<<"$out" || true)
  grep ' configured$' <<<"$out" | sed 's/^/  /' >&2 || true
  log "$what: $created created, $configured configured, $unchanged unchanged"
}

wait_for_apiserver() {
  local _
  for _ in $(seq 1 60); do
    if kubectl get --raw /readyz >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  die "kube-apiserver is not ready after 60 s (kubeconfig $KUBECONFIG)"
}

install_crds() {
  if [ ! -d "$CRDS_DIR" ] || [ -z "$(find "$CRDS_DIR" -name '*.yaml' -print -quit)" ]; then
    die "no CRD manifests under $CRDS_DIR (the project's CRDs and config/crds/upstream/ must exist first)"
  fi
  local out
  out=$(kubectl apply -f "$CRDS_DIR" -R)
  report_changes "$out" "CRDs"
  kubectl wait --for condition=established --timeout=60s crd --all >/dev/null
}

# ---------------------------------------------------------------------------------------------------------------
# Normal objects: `kubectl apply` in owner order, then `status` blocks through the status subresource.
# ---------------------------------------------------------------------------------------------------------------

# jq helpers shared by the steps below. An object's owner key is "<owner kind>/<object namespace>/<owner name>".
# shellcheck disable=SC2016  # jq variables, not shell ones
JQ_DEFS='
  def owner_key($ns): "\(.kind)/\($ns)/\(.name)";
  def missing_uid: (.uid // "") == "";
  def resolvable($uids): (.metadata.namespace // "") as $ns
    | all(.metadata.ownerReferences[]?; (missing_uid | not) or ($uids[owner_key($ns)] != null));
  def fill_uids($uids): (.metadata.namespace // "") as $ns
    | if .metadata.ownerReferences then
        .metadata.ownerReferences |= map(if missing_uid then .uid = $uids[owner_key($ns)] else . end)
      else . end;
  def id: "\(.kind)/\(.metadata.namespace // "")/\(.metadata.name)";
  def drop_empty: walk(if type == "object" then with_entries(select(.value != null and .value != {})) else . end);
'

# uid map {"Kind/ns/name": uid} of the live objects of every kind named in a missing ownerReference of $1.
owner_uids() {
  local kinds
  kinds=$(jq -r '[.[] | .metadata.ownerReferences[]? | select((.uid // "") == "")
                 | .kind + (.apiVersion | if test("/") then split("/") | "." + .[1] + "." + .[0] else "" end)]
                 | unique | join(",")' <<<"$1")
  if [ -z "$kinds" ]; then echo '{}'; return; fi
  kubectl get "$kinds" -A -o json |
    jq '[.items[] | {key: "\(.kind)/\(.metadata.namespace // "")/\(.metadata.name)", value: .metadata.uid}] | from_entries'
}

# Applies the objects of JSON array $1 (statuses removed), each once all its owners exist: owners first, then their
# dependents with ownerReferences[].uid filled in from the live owner.
apply_in_owner_order() {
  local pending=$1 uids ready out all_out=""
  while [ "$(jq length <<<"$pending")" -gt 0 ]; do
    uids=$(owner_uids "$pending")
    ready=$(jq --argjson uids "$uids" "$JQ_DEFS"'[.[] | select(resolvable($uids)) | fill_uids($uids)]' <<<"$pending")
    if [ "$(jq length <<<"$ready")" -eq 0 ]; then
      die "cannot resolve owners of: $(jq -r "$JQ_DEFS"'[.[] | id] | join(", ")' <<<"$pending")"
    fi
    out=$(jq '{apiVersion: "v1", kind: "List", items: .}' <<<"$ready" | kubectl apply -f -)
    all_out+=$out$'\n'
    pending=$(jq --argjson uids "$uids" "$JQ_DEFS"'[.[] | select(resolvable($uids) | not)]' <<<"$pending")
  done
  report_changes "$all_out" "objects"
}

# Nothing finishes a deletion in this control plane (no kubelet, no namespace controller). A seeded pod that was deleted
# stays Terminating forever: force its deletion so that it is created again. A seeded namespace being deleted cannot
# be recovered that way (its contents stay behind): stop with a hint instead.
reset_deleted_objects() {
  local seed_ids stuck ns name
  seed_ids=$(jq -c "$JQ_DEFS"'[.[] | select(.kind == "Pod" or .kind == "Namespace") | id]' <<<"$1")
  stuck=$(kubectl get namespaces,pods -A -o json | jq -r --argjson ids "$seed_ids" "$JQ_DEFS"'
    .items[] | select(.metadata.deletionTimestamp != null) | id as $id | select(any($ids[]; . == $id)) | $id')
  while IFS=/ read -r kind ns name; do
    case "$kind" in
      Namespace) die "namespace $name is being deleted and nothing here can finish that; restart from an empty control plane (scripts/demo.sh --stop, then remove its data)" ;;
      Pod)
        log "pod $ns/$name was deleted and is stuck Terminating (no kubelet); recreating it"
        kubectl delete pod -n "$ns" "$name" --grace-period=0 --force --wait=false >/dev/null 2>&1 ;;
    esac
  done < <(grep . <<<"$stuck" || true)
}

# Writes the `status` of each object in JSON array $1 that has one, through the status subresource, unless every
# field it sets already has that value.
write_statuses() {
  local desired=$1 live patches n=0 obj patch
  desired=$(jq '[.[] | select((.status // {}) != {})]' <<<"$desired")
  [ "$(jq length <<<"$desired")" -gt 0 ] || return 0
  live=$(jq '{apiVersion: "v1", kind: "List", items: map(del(.status))}' <<<"$desired" | kubectl get -f - -o json |
    jq "$JQ_DEFS"'(if .kind == "List" then .items else [.] end) | map({key: id, value: (.status // {} | drop_empty)}) | from_entries')
  patches=$(jq -c --argjson live "$live" "$JQ_DEFS"'
    .[] | id as $id | select(.status | drop_empty | to_entries | any(.value != ($live[$id][.key])))
    | {obj: {apiVersion, kind, metadata: {name: .metadata.name, namespace: .metadata.namespace}}, patch: {status}}
    | if .obj.metadata.namespace == null then del(.obj.metadata.namespace) else . end' <<<"$desired")
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    obj=$(jq -c .obj <<<"$line")
    patch=$(jq -c .patch <<<"$line")
    kubectl patch -f - --subresource=status --type=merge -p "$patch" <<<"$obj" >/dev/null
    n=$((n + 1))
  done <<<"$patches"
  log "statuses: $n written, $(( $(jq length <<<"$desired") - n )) already up to date"
}

# ---------------------------------------------------------------------------------------------------------------
# IPAM blocks: never `kubectl apply` (a JSON merge patch drops the nulls inside spec.allocations). Create missing
# blocks; replace all blocks of the file when any existing one differs (an update with identical content is a no-op
# in kube-apiserver). Never pipe block objects through jq on the way to the server: jq 1.6 rounds the int64
# sequenceNumber. jq is only used to compare (both sides are rounded the same way).
# ---------------------------------------------------------------------------------------------------------------
seed_ipam_blocks() {
  local file=$1 desired live missing differing out
  desired=$(kubectl create --dry-run=client --validate=false -o json -f "$file" | jq -s '.')
  if [ "$(jq '[.[] | select(.kind != "IPAMBlock")] | length' <<<"$desired")" -gt 0 ]; then
    die "$file must contain IPAMBlocks only"
  fi
  live=$(kubectl get ipamblocks.crd.projectcalico.org -o json |
    jq '[.items[] | {key: .metadata.name, value: {spec, labels: .metadata.labels, annotations: .metadata.annotations}}] | from_entries')
  missing=$(jq -r --argjson live "$live" '[.[] | select($live[.metadata.name] == null) | .metadata.name] | join(" ")' <<<"$desired")
  differing=$(jq -r --argjson live "$live" '[.[] | select($live[.metadata.name] != null)
      | select($live[.metadata.name] != {spec, labels: .metadata.labels, annotations: .metadata.annotations})
      | .metadata.name] | join(" ")' <<<"$desired")
  if [ -n "$missing" ]; then
    # Creates the missing blocks; the others fail with AlreadyExists, which is expected.
    out=$(kubectl create --validate=false -f "$file" 2>&1) || true
    if grep -v -e ' created$' -e '(AlreadyExists)' <<<"$out" | grep -q .; then die "creating IPAM blocks failed:"$'\n'"$out"; fi
  fi
  if [ -n "$differing" ]; then
    log "IPAM blocks differ from the seed: $differing; replacing"
    kubectl replace --validate=false -f "$file" >/dev/null
  fi
  log "IPAM blocks ($(basename "$file")): $(jq length <<<"$desired") in seed, created: ${missing:-none}, replaced: ${differing:-none}"
}

seed() {
  local f files=() block_files=() args=() objects
  for f in "$SEED_DIR"/*.yaml; do
    [ -e "$f" ] || die "no seed manifests in $SEED_DIR"
    case "$(basename "$f")" in
      *ipamblocks*) block_files+=("$f") ;;
      *) files+=("$f"); args+=(-f "$f") ;;
    esac
  done
  # Client-side conversion of every manifest to one JSON array, in file order (no server-side validation here:
  # ownerReferences lack their uid until apply_in_owner_order fills it in).
  objects=$(kubectl create --dry-run=client --validate=false -o json "${args[@]}" | jq -s '.')
  if [ "$(jq '[.[] | select(.kind == "IPAMBlock")] | length' <<<"$objects")" -gt 0 ]; then
    die "IPAMBlocks must live in a file named *ipamblocks*.yaml (they cannot be applied)"
  fi
  log "seeding $(jq length <<<"$objects") objects from ${files[*]#"$ROOT"/}"
  reset_deleted_objects "$objects"
  apply_in_owner_order "$(jq 'map(del(.status))' <<<"$objects")"
  for f in "${block_files[@]}"; do seed_ipam_blocks "$f"; done
  write_statuses "$objects"
}

print_summary() {
  echo >&2
  kubectl get ippools.crd.projectcalico.org \
    -o custom-columns='POOL:.metadata.name,CIDR:.spec.cidr,BLOCKSIZE:.spec.blockSize,DISABLED:.spec.disabled,USES:.spec.allowedUses' >&2
  echo >&2
  kubectl get ipamblocks.crd.projectcalico.org -o custom-columns='BLOCK:.metadata.name,CIDR:.spec.cidr,AFFINITY:.spec.affinity' >&2
  echo >&2
  log "expected pool status: see the header of ${SEED_DIR#"$ROOT"/}/20-ipamblocks.yaml"
}

main() {
  local mode=run
  while [ $# -gt 0 ]; do
    case "$1" in
      --seed-only) mode=seed ;;
      --stop) mode=stop ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
  done

  if [ "$mode" = stop ]; then
    cp_cmd stop || die "$CONTROL_PLANE stop failed"
    return 0
  fi

  command -v kubectl >/dev/null || die "kubectl is required"
  command -v jq >/dev/null || die "jq is required"
  [ -x "$CONTROL_PLANE" ] || die "$CONTROL_PLANE not found"

  log "starting the control plane"
  cp_cmd ensure || die "$CONTROL_PLANE ensure failed"
  cp_cmd start || die "$CONTROL_PLANE start failed"
  KUBECONFIG=$(cp_cmd kubeconfig admin) || die "$CONTROL_PLANE kubeconfig admin failed"
  [ -f "$KUBECONFIG" ] || die "$CONTROL_PLANE kubeconfig admin printed '$KUBECONFIG', which is not a file"
  export KUBECONFIG
  wait_for_apiserver

  log "installing CRDs from ${CRDS_DIR#"$ROOT"/}"
  install_crds
  seed
  print_summary

  if [ "$mode" = seed ]; then
    log "seed done (--seed-only); KUBECONFIG=$KUBECONFIG"
    return 0
  fi

  command -v cargo >/dev/null || die "cargo is required to build the server"
  TOKEN=$(cp_cmd token admin) || die "$CONTROL_PLANE token admin failed"
  echo
  echo "# ---- try it (admin token; paste into another shell once the server logs that it listens) ----"
  print_demo_requests
  echo
  log "building and starting ks-network-apiserver on $BIND (Ctrl-C to stop; scripts/demo.sh --stop stops the control plane)"
  cd "$ROOT"
  exec cargo run --release --bin ks-network-apiserver -- all --kubeconfig "$KUBECONFIG" --bind-address "$BIND"
}

main "$@"
