#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kube-controller-manager from the pins in this
# folder's go.mod and go.sum into <repo>/.cache/testbed/<key>/bin, where <key>
# is a hash of those two files: a change of pins builds into a new folder, an
# unchanged pin set reuses what is there. Prints the bin folder on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
key=$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-16)
out="$root/.cache/testbed/$key/bin"
cmds=(go.etcd.io/etcd/server/v3 k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)
names=(etcd kube-apiserver kube-controller-manager)

missing=0
for n in "${names[@]}"; do [ -x "$out/$n" ] || missing=1; done
if [ "$missing" = 0 ]; then
  echo "$out"
  exit 0
fi

mkdir -p "$out"
cd "$here"
for i in "${!cmds[@]}"; do
  n=${names[$i]}
  [ -x "$out/$n" ] && continue
  echo "testbed: building $n (first time for these pins; several minutes)" >&2
  start=$(date +%s)
  # Build to a temporary name and rename, so an interrupted build never
  # leaves a half-written binary that a later run would trust.
  CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/$n.tmp" "${cmds[$i]}"
  mv "$out/$n.tmp" "$out/$n"
  echo "testbed: built $n in $(( $(date +%s) - start ))s" >&2
done
echo "$out"
