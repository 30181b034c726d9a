#!/bin/bash
# forkyroot.sh DIR: a Debian forky root file system with Ironic 35
# (ironic-api, ironic-conductor, the client) and IPA 13 with the tools it
# runs (qemu-img, sgdisk, parted), in which the e2e tests run Ironic under
# chroot next to Debian 12's 21.4 on the host.
# The packages come from Debian's mirror (GOIPA_DEBIAN_MIRROR overrides it).
# Everything it mounts is in a private mount namespace of its own, never in
# the host's mount table.
set -euo pipefail
if [ -z "${FORKYROOT_UNSHARED:-}" ]; then
	FORKYROOT_UNSHARED=1 exec unshare --mount --propagation private "$0" "$@"
fi
out=$1
mirror=${GOIPA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Clones on one machine share the cache: one build at a time, and none when
# another has just finished.
exec 9>"$out.lock"
flock 9
[ -d "$out" ] && exit 0
tmp=$out.tmp
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
# Debian 12's debootstrap has no forky script; sid's fits.
debootstrap --variant=minbase --include=ca-certificates \
	forky "$tmp/root" "$mirror" /usr/share/debootstrap/scripts/sid >"$tmp/log" 2>&1 ||
	{ tail -20 "$tmp/log" >&2; exit 1; }
root=$tmp/root
# No packaged service may start (the tests run their own Ironic).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
# forky's InRelease can be past its Valid-Until for this machine's clock.
in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive "$@"; }
in_root apt-get -qq -o Acquire::Check-Valid-Until=false update >>"$tmp/log" 2>&1 ||
	{ tail -20 "$tmp/log" >&2; exit 1; }
in_root apt-get install -y -qq --no-install-recommends \
	ironic-api ironic-conductor python3-ironicclient \
	ironic-python-agent qemu-utils gdisk parted >>"$tmp/log" 2>&1 ||
	{ tail -20 "$tmp/log" >&2; exit 1; }
umount -R "$root/proc" "$root/sys" "$root/dev"
# Documentation, translations and package caches: none needed.
rm -rf "$root"/usr/share/{doc,man,info,locale}/* "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/*
mv "$root" "$out"
