#!/usr/bin/env bash
# The second half of make k8s-check: each overlay of deploy/k8s applied to a
# real control plane. kube-apiserver, kube-controller-manager,
# kube-scheduler and kubectl are built from the pinned k8s.io/kubernetes
# module (deploy/k8s/controlplane), etcd from deploy/etcd, and kwok
# (sigs.k8s.io/kwok) plays four nodes in three zones: there is no kubelet
# here, so kwok reports the scheduled pods Running (and Job pods done)
# without running them. For each overlay, on a fresh control plane:
#
#   - server-side apply of everything it builds (the API server's own
#     validation and admission, the namespace's restricted Pod Security
#     Standard included);
#   - every Deployment and StatefulSet rolls out: its pods are scheduled
#     and reported Running; the etcdaccess Job completes;
#   - production's three etcd members sit on three different nodes;
#   - a node drain succeeds within the PodDisruptionBudgets, and everything
#     rolls out again on the nodes left;
#   - every HorizontalPodAutoscaler is accepted.
#
# Binaries are cached in deploy/.build/k8s-bin (Go's build cache keeps the
# rest); the first build takes about a quarter of an hour on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

KWOK_VERSION=${KWOK_VERSION:?set by the Makefile}
BIN=$ROOT/deploy/.build/k8s-bin
die() { echo "k8s-cluster-check: $*" >&2; exit 1; }
say() { echo "[k8s-cluster-check $(date +%T)] $*"; }

say "building the control plane, kubectl, etcd and kwok (cached after the first time)"
mkdir -p "$BIN"
(cd deploy/k8s/controlplane && GOWORK=off CGO_ENABLED=0 GOBIN=$BIN go install -trimpath ./cmd/...)
(cd deploy/etcd && GOWORK=off CGO_ENABLED=0 go build -trimpath -o "$BIN/etcd" .)
GOWORK=off CGO_ENABLED=0 GOBIN=$BIN go install -trimpath "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
command -v openssl >/dev/null || die "openssl is needed for the service-account key"
# kwok alone plays nothing until told how: its "fast" stages, from its own
# module (a node is ready at once and keeps reporting so; a pod runs at
# once, a Job's completes, a deleted one goes).
kwok_dir=$(GOWORK=off go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -n $kwok_dir ]] || die "could not download sigs.k8s.io/kwok@$KWOK_VERSION"

WORK=$(mktemp -d)
PIDS=()
stop_all() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	PIDS=()
}
LOGS=$ROOT/deploy/.build/k8s-logs
finish() {
	local rc=$?
	stop_all
	if ((rc != 0)); then
		# Every component's log, for reading after a failure.
		rm -rf "$LOGS" && mkdir -p "$LOGS"
		(cd "$WORK" && find . -name '*.log' -exec cp --parents {} "$LOGS" \;) || true
		echo "k8s-cluster-check: the components' logs are in $LOGS" >&2
	fi
	rm -rf "$WORK"
}
trap finish EXIT

# free_port prints a loopback port nothing answers on (a random one,
# tried with a connect: good enough for a check that owns the machine).
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

# The dev PKI the dev overlay's Secrets are made from.
go run ./pkg/cmd/devcerts -out "$WORK/certs" -per-service >/dev/null

# start_cluster DIR: etcd, the API server, the controller manager, the
# scheduler and kwok, all on loopback, until stop_all.
start_cluster() {
	local dir=$1 etcd_port peer_port api_port
	mkdir -p "$dir"
	etcd_port=$(free_port) peer_port=$(free_port) api_port=$(free_port)
	openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
	openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
	# One identity for the check and the components: this control plane
	# lives for a minute on loopback.
	echo "check-token,check,check,system:masters" >"$dir/tokens.csv"
	cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: check
    cluster:
      server: https://127.0.0.1:$api_port
      insecure-skip-tls-verify: true
users:
  - name: check
    user:
      token: check-token
contexts:
  - name: check
    context: {cluster: check, user: check}
current-context: check
EOF
	"$BIN/etcd" --data-dir="$dir/etcd" --listen-client-urls="http://127.0.0.1:$etcd_port" \
		--advertise-client-urls="http://127.0.0.1:$etcd_port" --listen-peer-urls="http://127.0.0.1:$peer_port" \
		--initial-advertise-peer-urls="http://127.0.0.1:$peer_port" --initial-cluster="default=http://127.0.0.1:$peer_port" \
		--unsafe-no-fsync >"$dir/etcd.log" 2>&1 &
	PIDS+=($!)
	"$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" \
		--bind-address=127.0.0.1 --secure-port="$api_port" --cert-dir="$dir/pki" \
		--token-auth-file="$dir/tokens.csv" --authorization-mode=RBAC \
		--service-account-issuer=https://kubernetes.default.svc \
		--service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
		--service-cluster-ip-range=10.96.0.0/16 >"$dir/apiserver.log" 2>&1 &
	PIDS+=($!)
	local i
	for i in $(seq 60); do
		"$BIN/kubectl" --kubeconfig="$dir/kubeconfig" get --raw /readyz >/dev/null 2>&1 && break
		((i < 60)) || { tail -20 "$dir/apiserver.log"; die "the API server did not become ready"; }
		sleep 1
	done
	"$BIN/kube-controller-manager" --kubeconfig="$dir/kubeconfig" --leader-elect=false \
		--bind-address=127.0.0.1 --secure-port="$(free_port)" \
		--service-account-private-key-file="$dir/sa.key" --use-service-account-credentials=false \
		--controllers='*,-nodeipam' >"$dir/controller-manager.log" 2>&1 &
	PIDS+=($!)
	"$BIN/kube-scheduler" --kubeconfig="$dir/kubeconfig" --leader-elect=false \
		--bind-address=127.0.0.1 --secure-port="$(free_port)" >"$dir/scheduler.log" 2>&1 &
	PIDS+=($!)
	for f in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
		echo "---"
		cat "$kwok_dir/kustomize/stage/$f.yaml"
	done >"$dir/kwok-stages.yaml"
	"$BIN/kwok" --kubeconfig="$dir/kubeconfig" --config="$dir/kwok-stages.yaml" --manage-all-nodes=false \
		--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
		--server-address=127.0.0.1:"$(free_port)" >"$dir/kwok.log" 2>&1 &
	PIDS+=($!)
	# Four nodes in three zones: production's etcd needs three distinct
	# nodes, and a fourth to move to when one is drained.
	local n zones=(a b c a)
	for n in 0 1 2 3; do
		cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: node-$n
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: node-$n
    topology.kubernetes.io/zone: zone-${zones[$n]}
    type: kwok
status:
  allocatable: {cpu: "8", memory: 32Gi, pods: "110"}
  capacity: {cpu: "8", memory: 32Gi, pods: "110"}
EOF
	done | "$BIN/kubectl" --kubeconfig="$dir/kubeconfig" apply -f - >/dev/null
	# Volumes for the StatefulSets' claims (no provisioner without a cloud).
	for n in 0 1 2 3 4 5; do
		cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv-$n
spec:
  capacity: {storage: 10Gi}
  accessModes: ["ReadWriteOnce"]
  hostPath: {path: /tmp/pv-$n}
EOF
	done | "$BIN/kubectl" --kubeconfig="$dir/kubeconfig" apply -f - >/dev/null
}

# check_overlay NAME: apply the overlay to a fresh control plane and check
# what the header says.
check_overlay() {
	local name=$1 dir=$WORK/$1 k
	say "$name: starting a control plane"
	start_cluster "$dir"
	k() { "$BIN/kubectl" --kubeconfig="$dir/kubeconfig" "$@"; }
	kustomize build "deploy/k8s/overlays/$name" >"$dir/manifests.yaml"
	if [[ $name == production ]]; then
		# Stand-ins for what an operator provides (docs/kubernetes.md):
		# cert-manager's two kinds, accepting any spec, and the Secrets and
		# ConfigMaps the overlay expects.
		local kind
		for kind in Certificate Issuer; do
			cat <<EOF
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ${kind,,}s.cert-manager.io}
spec:
  group: cert-manager.io
  names: {kind: $kind, plural: ${kind,,}s}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
EOF
		done | k apply -f - >/dev/null
		k wait --for=condition=established crd --all --timeout=60s >/dev/null
	fi
	say "$name: server-side apply of $(grep -c '^kind:' "$dir/manifests.yaml") objects"
	# kustomize puts the Namespace first, and kubectl creates in order.
	k apply --server-side -f "$dir/manifests.yaml" >"$dir/apply.log" 2>&1 || { cat "$dir/apply.log"; die "$name: the API server refused the manifests"; }
	if [[ $name == dev ]]; then
		scripts/k8s-dev-secrets.sh "$WORK/certs" | k apply -n shopmesh -f - >/dev/null
	else
		k -n shopmesh create secret generic shopmesh-databases --from-literal=order=x --from-literal=inventory=x \
			--from-literal=payment=x --from-literal=shipping=x >/dev/null
		k -n shopmesh create secret generic gateway-jwt --from-literal=signing-key=x >/dev/null
		k -n shopmesh create secret generic payment-provider --from-literal=api-key=x >/dev/null
		k -n shopmesh create configmap payment-provider --from-literal=url=https://psp.example \
			--from-literal=ca-file=/etc/payment-provider/ca.pem >/dev/null
		k -n shopmesh create configmap payment-provider-ca --from-literal=ca.pem=x >/dev/null
	fi

	rollouts() {
		local w
		for w in $(k -n shopmesh get deploy,statefulset -o name); do
			k -n shopmesh rollout status "$w" --timeout=60s >/dev/null ||
				{ k -n shopmesh get pods -o wide; k -n shopmesh describe pods -l "$(k -n shopmesh get "$w" -o jsonpath='{.spec.selector.matchLabels}' | tr -d '{}"' | tr ':' '=')" | tail -25; k get nodes -o wide; die "$name: $w did not roll out"; }
		done
		local pending
		pending=$(k -n shopmesh get pods --no-headers | awk '$3 != "Running" && $3 != "Completed" {print $1 " " $3}')
		[[ -z $pending ]] || { k -n shopmesh get pods -o wide; die "$name: pods not running: $pending"; }
	}
	rollouts
	k -n shopmesh wait --for=condition=complete job/etcdaccess --timeout=120s >/dev/null || die "$name: the etcdaccess Job did not complete"
	say "$name: $(k -n shopmesh get pods --no-headers | grep -c Running) pods Running on $(k -n shopmesh get pods -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | grep -c .) nodes; etcdaccess completed"

	if [[ $name == production ]]; then
		local etcd_nodes
		etcd_nodes=$(k -n shopmesh get pods -l app.kubernetes.io/name=etcd -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | grep -c .)
		((etcd_nodes == 3)) || die "production: etcd's 3 members on $etcd_nodes nodes, want 3"
		say "production: the 3 etcd members are on 3 nodes"
	fi

	local victim
	victim=$(k -n shopmesh get pods -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | uniq -c | sort -rn | awk 'NR==1{print $2}')
	say "$name: draining $victim ($(k -n shopmesh get pods --field-selector spec.nodeName="$victim" --no-headers | wc -l) pods)"
	k drain "$victim" --ignore-daemonsets --delete-emptydir-data --timeout=180s >"$dir/drain.log" 2>&1 ||
		{ cat "$dir/drain.log"; die "$name: draining $victim failed"; }
	rollouts
	local left
	left=$(k -n shopmesh get pods --field-selector spec.nodeName="$victim" --no-headers 2>/dev/null | grep -vc Completed || true)
	((left == 0)) || die "$name: $left pods still on the drained $victim"
	say "$name: drain of $victim within the disruption budgets; everything rolled out again elsewhere"

	local hpas
	hpas=$(k -n shopmesh get hpa --no-headers | wc -l)
	((hpas == 5)) || die "$name: $hpas autoscalers, want 5"
	say "$name: ok ($hpas autoscalers accepted)"
	stop_all
}

for overlay in dev production; do
	check_overlay "$overlay"
done
say "ok"
