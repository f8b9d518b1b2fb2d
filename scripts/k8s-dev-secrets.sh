#!/usr/bin/env bash
# Prints, as Kubernetes Secrets, the certificate of each identity that runs
# in the cluster, from the dev PKI make certs wrote (deploy/certs/<name>/):
# the layout cert-manager writes (ca.crt, tls.crt, tls.key), which the
# manifests map to the file names tlsconf reads. Development only:
#
#   make certs && scripts/k8s-dev-secrets.sh | kubectl apply -n shopmesh -f -
#
# The first argument names another directory written as make certs does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
certs=${1:-deploy/certs}
for name in gateway order inventory payment shipping etcd etcdaccess otelcol paysim; do
	dir=$certs/$name
	[[ -r $dir/$name-key.pem ]] || { echo "k8s-dev-secrets: no readable $dir/$name-key.pem: run make certs (as root, or as the files' owner)" >&2; exit 1; }
	cat <<YAML
---
apiVersion: v1
kind: Secret
metadata:
  name: $name-tls
type: kubernetes.io/tls
data:
  ca.crt: $(base64 -w0 "$dir/ca.pem")
  tls.crt: $(base64 -w0 "$dir/$name.pem")
  tls.key: $(base64 -w0 "$dir/$name-key.pem")
YAML
done
