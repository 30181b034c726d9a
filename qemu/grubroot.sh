#!/bin/bash
# grubroot.sh OUT.tar: a minimal Debian 12 root file system with GRUB (EFI
# and BIOS), packed as a tar. The partition-image boot loader tests
# (qemu/grub_test.go) build their image's root from it: install_bootloader
# must run the image's own grub-install and grub-mkconfig, chrooted.
# The packages come from Debian's mirror (GOIPA_DEBIAN_MIRROR overrides it).
set -euo pipefail
out=$1
mirror=${GOIPA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
debootstrap --variant=minbase --include=grub-efi-amd64-bin,grub-pc-bin,grub2-common \
	bookworm "$tmp/root" "$mirror" >"$tmp/log" 2>&1 || { tail -20 "$tmp/log" >&2; exit 1; }
# Documentation, translations and package caches: half the size, none needed.
rm -rf "$tmp"/root/usr/share/{doc,man,info,locale}/* "$tmp"/root/var/cache/apt/* "$tmp"/root/var/lib/apt/lists/*
tar -C "$tmp/root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
