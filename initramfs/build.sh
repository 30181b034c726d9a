#!/usr/bin/env bash
# Builds goipa's boot artefacts from Debian packages and the u-root builder
# pinned in go.mod. Called by the Makefile; run from the repository root.
#
#   build.sh kernel  OUTDIR                 -> OUTDIR/goipa.kernel (bzImage), OUTDIR/goipa.vmlinux (PVH ELF for QEMU)
#   build.sh ramdisk PKG OUTFILE [debug]    -> OUTFILE: a plain cpio of the modules and firmware, then a zstd-compressed cpio with the Go command PKG
#                                              (./cmd/goipa) as /init; debug: u-root init, PKG as
#                                              uinit, and a shell
#
# Nothing is installed on the build host: packages are fetched with
# `apt-get download` and unpacked with `dpkg-deb -x` (no maintainer scripts).
# Downloads and staging live under $CACHE (default /var/cache/goipa, outside
# the clone so that fresh clones on this machine reuse them). PROFILE picks
# initramfs/modules-$PROFILE.txt: server (default) or vm.
set -euo pipefail

CACHE=$(realpath -m "${CACHE:-/var/cache/goipa}")
HERE=$(dirname "$(realpath "$0")")
FLAVOUR=amd64
PROFILE=${PROFILE:-server}

# Debug images get a shell and a few tools; the default image has none.
DEBUG_CMDS=(gosh ls cat cp dmesg ip mount umount ps free lsmod insmod mkdir rm df grep hexdump wget sync)

log() { echo "build.sh: $*" >&2; }

# apt_download PKG DIR: fetch PKG's .deb into DIR once; prints the .deb path.
apt_download() {
	local pkg=$1 dir=$2 ver deb
	ver=$(apt-cache policy "$pkg" | awk '/Candidate:/{print $2}')
	if [[ -z $ver || $ver == "(none)" ]]; then
		log "no candidate for $pkg in the apt lists (run apt-get update)"
		return 1
	fi
	deb="$dir/${pkg}_${ver//:/%3a}_amd64.deb"
	if [[ ! -s $deb ]]; then
		mkdir -p "$dir"
		(cd "$dir" && apt-get download -q "$pkg=$ver" >&2)
	fi
	echo "$deb"
}

# kernel_pkg prints the ABI package linux-image-$FLAVOUR depends on today.
kernel_pkg() {
	local pkg
	pkg=$(apt-cache depends "linux-image-$FLAVOUR" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	if [[ -z $pkg ]]; then
		log "apt lists lack linux-image-$FLAVOUR; running apt-get update"
		apt-get update -q >&2
		pkg=$(apt-cache depends "linux-image-$FLAVOUR" | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	fi
	[[ -n $pkg ]] || { log "cannot resolve linux-image-$FLAVOUR"; return 1; }
	echo "$pkg"
}

# extract_vmlinux BZIMAGE OUT: the xz payload of a bzImage is the ELF vmlinux,
# which QEMU boots through PVH without the slow in-guest decompression.
extract_vmlinux() {
	local off
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$1" | head -1 | cut -d: -f1)
	[[ -n $off ]] || { log "$1: no xz payload"; return 1; }
	# Process substitution: xz stops at the stream's end, tail's SIGPIPE is moot.
	xz -dc --single-stream < <(tail -c "+$((off + 1))" "$1") >"$2.tmp"
	[[ $(head -c4 "$2.tmp" | od -An -c | tr -d ' ') == '177ELF' ]] || { log "$1: payload is not ELF"; return 1; }
	mv "$2.tmp" "$2"
}

cmd_kernel() {
	local outdir=$1 pkg kver root deb
	pkg=$(kernel_pkg)
	kver=${pkg#linux-image-}
	root="$CACHE/kernel/$kver"
	if [[ ! -s $root/lib/modules/$kver/modules.dep ]]; then
		deb=$(apt_download "$pkg" "$CACHE/dl")
		log "unpacking $(basename "$deb")"
		rm -rf "$root.tmp" && mkdir -p "$root.tmp"
		dpkg-deb -x "$deb" "$root.tmp"
		# The .deb ships no modules.dep: postinst would have run depmod.
		depmod -b "$root.tmp" "$kver"
		rm -rf "$root" && mv "$root.tmp" "$root"
	fi
	ln -sfn "$kver" "$CACHE/kernel/current"
	mkdir -p "$outdir"
	# -p and the -nt test keep mtimes, so make rebuilds only on a new kernel.
	cp -p "$root/boot/vmlinuz-$kver" "$outdir/goipa.kernel"
	if [[ ! $outdir/goipa.vmlinux -nt $outdir/goipa.kernel ]]; then
		extract_vmlinux "$outdir/goipa.kernel" "$outdir/goipa.vmlinux"
	fi
	log "kernel $kver -> $outdir/goipa.kernel, $outdir/goipa.vmlinux"
}

# module_names KROOT KVER LIST: the module names of a profile's list, each
# directory entry expanded to the device drivers under it: modules with an
# alias on a bus the agent loads drivers for (pci, usb, virtio, platform,
# hid). A module no device asks for (scsi_debug makes fake disks when
# loaded) stays out.
module_names() {
	local kroot=$1 kver=$2 list=$3 entry f
	while read -r entry; do
		if [[ $entry != */ ]]; then
			echo "$entry"
			continue
		fi
		while read -r f; do
			if modinfo -F alias "$f" | grep -qE '^(pci|usb|virtio|platform|hid):'; then
				f=$(basename "$f" .ko)
				echo "${f//-/_}"
			fi
		done < <(find "$kroot/lib/modules/$kver/$entry" -name '*.ko' | sort)
	done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$list" | awk '{print $1}')
}

# stage_modules KROOT KVER DEST NAMES: copies the closure of the modules in
# the file NAMES, soft dependencies included (modprobe --show-depends lists
# them), and regenerates modules.dep/softdep/alias for the subset.
stage_modules() {
	local kroot=$1 kver=$2 dest=$3 names=$4 m line ko
	local -A seen=()
	rm -rf "$dest" && mkdir -p "$dest/lib/modules/$kver"
	while read -r m; do
		# -C: ignore the build host's /etc/modprobe.d.
		while read -r line; do
			[[ $line == insmod\ * ]] || continue
			ko=$(awk '{print $2}' <<<"$line")
			ko=${ko#"$kroot"/}
			[[ -n ${seen[$ko]:-} ]] && continue
			seen[$ko]=1
			mkdir -p "$dest/$(dirname "$ko")"
			cp "$kroot/$ko" "$dest/$ko"
		done < <(modprobe -C /nonexistent -d "$kroot" -S "$kver" --show-depends "$m")
	done <"$names"
	stage_firmware "$kroot" "$kver" "$dest" "$(dirname "$dest")/firmware"
	# Each module compressed on its own: the kernel unpacks a cpio half the
	# size at boot, and the agent decompresses only the modules it loads
	# (Debian's kernel cannot; the signature stays valid, it covers the
	# uncompressed file). zstd: xz is 0.4 MB smaller in all but decodes
	# ~100x slower in Go.
	find "$dest" -name '*.ko' -exec zstd -q -19 --rm {} +
	cp "$kroot/lib/modules/$kver"/modules.{builtin,builtin.modinfo,order} "$dest/lib/modules/$kver/"
	depmod -b "$dest" "$kver"
	# The agent reads the text files only.
	rm -f "$dest/lib/modules/$kver"/{*.bin,modules.symbols,modules.builtin.modinfo,modules.order,modules.devname}
	log "staged ${#seen[@]} modules ($(du -sh "$dest" | cut -f1))"
}

# stage_firmware KROOT KVER DEST: the firmware files the staged modules name
# (modinfo's firmware lines, globs included), from Debian's firmware packages
# in initramfs/firmware.txt, xz-compressed as the kernel's loader reads them
# (CONFIG_FW_LOADER_COMPRESS_XZ; CRC32 checks, a 1 MiB dictionary).
stage_firmware() {
	local kroot=$1 kver=$2 dest=$3 map=$4 fwroot=$CACHE/firmware/root ko f src rel mod n=0
	fetch_firmware "$fwroot" || return
	: >"$map"
	while read -r ko; do
		mod=$(basename "$ko" .ko)
		while read -r f; do
			[[ -n $f ]] || continue
			# A name may be a glob: every match is taken.
			for src in "$fwroot"/lib/firmware/$f "$fwroot"/usr/lib/firmware/$f; do
				[[ -f $src ]] || continue
				rel=${src#"$fwroot"/}
				rel=${rel#usr/}
				echo "${mod//-/_} ${rel#lib/firmware/}" >>"$map"
				[[ -f $dest/$rel.xz ]] && continue
				mkdir -p "$dest/$(dirname "$rel")"
				xz -q -c --check=crc32 --lzma2=dict=1MiB "$src" >"$dest/$rel.xz"
				n=$((n + 1))
			done
		done < <(modinfo -F firmware "$ko")
	done < <(find "$dest" -name '*.ko' | sort)
	log "staged $n firmware files ($(du -sh "$dest/lib/firmware" 2>/dev/null | cut -f1))"
}

# fetch_firmware ROOT: unpacks the packages of initramfs/firmware.txt into
# ROOT once. They live in Debian's non-free-firmware component, which the
# host's apt sources may lack: a private apt state under $CACHE adds it,
# the host's lists stay untouched.
fetch_firmware() {
	local root=$1 apt=$CACHE/apt-fw dl=$CACHE/firmware/debs pkgs f
	pkgs=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$HERE/firmware.txt" | awk '{print $1}' | tr '\n' ' ')
	if [[ -f $root/.done && $(cat "$root/.done") == "$pkgs" ]]; then return 0; fi
	local -a opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1)
	rm -rf "$apt" "$root" && mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/cache/archives/partial" "$dl" "$root"
	sed -n 's/^\(deb .* main\)\b.*/\1 non-free-firmware/p' /etc/apt/sources.list >"$apt/sources.list" 2>/dev/null || :
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -e $f ]] && sed 's/^Components:.*/Components: main non-free-firmware/' "$f" >"$apt/parts/$(basename "$f")"
	done
	apt-get -q "${opts[@]}" update >&2
	# shellcheck disable=SC2086
	(cd "$dl" && apt-get -q "${opts[@]}" download $pkgs >&2)
	for f in "$dl"/*.deb; do dpkg-deb -x "$f" "$root"; done
	echo "$pkgs" >"$root/.done"
	log "firmware packages: $pkgs"
}

# apt_src SRCPKG VER DIR: fetches and unpacks Debian's source package into
# DIR/SRCPKG-src. The host's own apt lists stay untouched: deb-src entries
# mirroring the host's deb entries live in a private apt state under $CACHE.
apt_src() {
	local src=$1 ver=$2 dir=$3 apt=$CACHE/apt-src f
	local -a opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1)
	if [[ ! -s $dir/${src}_$ver.dsc ]]; then
		mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/cache/archives/partial" "$dir"
		sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >"$apt/sources.list" 2>/dev/null || :
		for f in /etc/apt/sources.list.d/*.sources; do
			[[ -e $f ]] && sed 's/^Types:.*/Types: deb-src/' "$f" >"$apt/parts/$(basename "$f")"
		done
		apt-get -q "${opts[@]}" update >&2
		(cd "$dir" && apt-get -q "${opts[@]}" source --download-only "$src=$ver" >&2)
	fi
	rm -rf "$dir/$src-src"
	dpkg-source -q -x "$dir/${src}_$ver.dsc" "$dir/$src-src" >&2
}

# static_mdadm OUT: Debian's mdadm (the version apt would install, with
# Debian's patches) built static against musl: 0.3 MB compressed instead of
# 1.2 MB with glibc and libudev. The agent runs it with MDADM_NO_UDEV.
static_mdadm() {
	local out=$1 ver build=$CACHE/mdadm-build hdr
	ver=$(apt-cache policy mdadm | awk '/Candidate:/{print $2}')
	[[ -n $ver && $ver != "(none)" ]] || { log "no candidate for mdadm in the apt lists"; return 1; }
	if [[ -x $out && $(cat "$out.version" 2>/dev/null) == "$ver" ]]; then return 0; fi
	apt_src mdadm "${ver#*:}" "$build"
	# musl-gcc searches no kernel headers; mdadm needs linux/ and asm/.
	hdr=$build/kernel-headers
	mkdir -p "$hdr"
	ln -sfn /usr/include/linux "$hdr/linux"
	ln -sfn /usr/include/asm-generic "$hdr/asm-generic"
	ln -sfn "/usr/include/$(gcc -print-multiarch)/asm" "$hdr/asm"
	make -s -C "$build/mdadm-src" -j"$(nproc)" CC=musl-gcc \
		CXFLAGS="-Os -isystem $hdr -DNO_LIBUDEV" LDFLAGS=-static mdadm >&2
	mkdir -p "$(dirname "$out")"
	strip -o "$out" "$build/mdadm-src/mdadm"
	echo "$ver" >"$out.version"
	log "mdadm $ver static (musl) -> $out"
}

cmd_ramdisk() {
	local pkg=$1 outfile=$2 variant=${3:-} kver kroot stage mdadm cpio agent initargs cmds=()
	kver=$(readlink "$CACHE/kernel/current") || { log "run build.sh kernel first"; return 1; }
	kroot="$CACHE/kernel/$kver"
	stage="$CACHE/ramdisk/$PROFILE/modroot"
	names="$CACHE/ramdisk/$PROFILE/modules"
	mkdir -p "$(dirname "$names")"
	# Clones on one machine (worktrees, CI beside a session) share the
	# staging: one build of a profile at a time.
	exec 9>"$CACHE/ramdisk/$PROFILE.lock"
	flock 9
	module_names "$kroot" "$kver" "$HERE/modules-$PROFILE.txt" >"$names"
	stage_modules "$kroot" "$kver" "$stage" "$names"

	mdadm="$CACHE/ramdisk/mdadm.static"
	static_mdadm "$mdadm"

	# goipa is /init itself: one Go program start less at boot. The debug
	# image keeps u-root's init, which starts goipa and then the shell.
	agent=$(basename "$(go list "$pkg")")
	initargs=(-initcmd="$agent" -uinitcmd= -defaultsh=)
	if [[ $variant == debug ]]; then
		for c in "${DEBUG_CMDS[@]}"; do cmds+=("github.com/u-root/u-root/cmds/core/$c"); done
		cmds+=(github.com/u-root/u-root/cmds/core/init)
		initargs=(-initcmd=init -uinitcmd="$agent" -defaultsh=gosh)
	fi
	cpio="$CACHE/ramdisk/$PROFILE/goipa${variant:+-$variant}.cpio"
	mkdir -p "$(dirname "$cpio")" "$(dirname "$outfile")"
	# The debug tools share one busybox binary (and Go runtime) with goipa.
	# nethttpomithttp2: net/http without its HTTP/2 (IPA speaks HTTP/1.1
	# both ways); 145 kB less compressed.
	GOAMD64=v1 CGO_ENABLED=0 go tool u-root -o "$cpio" -go-build-tags=nethttpomithttp2 \
		"${initargs[@]}" \
		-files "$mdadm:sbin/mdadm" \
		-files "$names:etc/goipa/modules" \
		-files "$(dirname "$stage")/firmware:etc/goipa/firmware" \
		-files "/etc/ssl/certs/ca-certificates.crt:etc/ssl/certs/ca-certificates.crt" \
		"${cmds[@]}" "$pkg"
	# Two archives, which the kernel unpacks in turn. First the modules and
	# firmware, compressed file by file already, as a plain cpio: the kernel
	# only copies them, so the drivers of a server profile cost no
	# decompression at boot. Then goipa and the rest, zstd-compressed:
	# smallest of the formats the kernel unpacks fast under TCG (xz is slow).
	# The plain archive comes first because Ironic 35 runs `zstd -d` on a
	# ramdisk that starts with a zstd frame, which fails on the second archive
	# (images.py _handle_zstd_compression); cpio newc pads to 512 bytes, so the
	# second archive starts aligned.
	(cd "$stage" && find lib | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$outfile.tmp"
	zstd -q -19 -c "$cpio" >>"$outfile.tmp"
	mv "$outfile.tmp" "$outfile"
	log "$outfile ($PROFILE): $(stat -c %s "$cpio") bytes cpio + $(du -sb "$stage" | cut -f1) bytes of modules and firmware, $(stat -c %s "$outfile") bytes"
}

case ${1:-} in
kernel) shift; cmd_kernel "$@" ;;
ramdisk) shift; cmd_ramdisk "$@" ;;
*) echo "usage: $0 kernel OUTDIR | ramdisk PKG OUTFILE [debug]" >&2; exit 2 ;;
esac
