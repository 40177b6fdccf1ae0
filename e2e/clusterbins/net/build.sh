#!/usr/bin/env bash
# Builds the flat-network test bed's binaries, kube-proxy and CoreDNS, each
# from its own module in this folder (kube-proxy/, coredns/) into
# <repo>/.cache/testbed/net/<name>-<key>/<name>, where <key> is a hash of
# that module's go.mod, go.sum and *.go files: a change of one module's pins
# rebuilds that binary only, and never touches the control-plane binaries
# of ../build.sh. e2e/testbed/netbins.go computes the same keys. Prints the
# two binaries' paths on stdout, one a line.
set -euo pipefail
export LC_ALL=C # the glob order below must match Go's sorted file list
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)

# name, then the package to build inside that module's folder.
builds=("kube-proxy k8s.io/kubernetes/cmd/kube-proxy" "coredns .")

for b in "${builds[@]}"; do
  read -r name pkg <<<"$b"
  dir="$here/$name"
  key=$(cd "$dir" && cat go.mod go.sum *.go | sha256sum | cut -c1-16)
  out="$root/.cache/testbed/net/$name-$key"
  if [ ! -x "$out/$name" ]; then
    mkdir -p "$out"
    echo "testbed: building $name (first time for these pins; a few minutes)" >&2
    start=$(date +%s)
    # A temporary name and a rename, so that an interrupted build never
    # leaves a half-written binary that a later run would trust.
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/$name.tmp" "$pkg")
    mv "$out/$name.tmp" "$out/$name"
    echo "testbed: built $name in $(( $(date +%s) - start ))s" >&2
  fi
  echo "$out/$name"
done
