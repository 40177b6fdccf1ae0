#!/usr/bin/env bash
# Makes sure the host has the commands the flat-network test bed runs:
# nft (Debian package nftables: kube-proxy's nftables mode calls it), ip
# (iproute2: network namespaces, veth pairs, the bridge) and unshare
# (util-linux: the private network namespace each such test runs in). As
# root it installs whatever is missing with apt-get; otherwise it stops and
# names the packages to install.
set -euo pipefail

# command, then the Debian package that provides it.
needs=("nft nftables" "ip iproute2" "unshare util-linux")

missing=()
for n in "${needs[@]}"; do
  read -r cmd pkg <<<"$n"
  # nft and ip live in /usr/sbin, which a non-root PATH may lack.
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "The test bed needs the Debian package(s): ${missing[*]}" >&2
  echo "Install them as root (apt-get install -y ${missing[*]}) and run again." >&2
  exit 1
fi
echo "testbed: installing ${missing[*]}" >&2
# Another job may hold the dpkg lock for a while: wait for it, not fail.
apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >&2
