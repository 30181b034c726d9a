#!/usr/bin/env bash
# make demo: boot the goipa ramdisk in QEMU with an empty disk, let goipactl
# play a minimal Ironic conductor that deploys a small bootable disk image
# built here, check the disk against the image, then boot the deployed disk.
# Everything stays on 127.0.0.1 (QEMU user networking with restrict=on).
set -euo pipefail
OUT=${OUT:-out}
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/goipa-demo.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
[ -n "${GOIPA_DEMO_KEEP:-}" ] && trap - EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ms() { date +%s%3N; }

echo "== building a bootable sample disk image (syslinux + the Debian kernel)"
img=$work/www/sample.raw
mkdir -p "$work/www"
truncate -s 64M "$img"
echo 'start=2048, type=6, bootable' | sfdisk -q "$img"
mkfs.vfat -F 16 -n GOIPADEMO --offset 2048 "$img" $(((64 << 10) - 1024)) >/dev/null
printf 'SERIAL 0 115200\nDEFAULT linux\nLABEL linux\n  KERNEL vmlinuz\n  APPEND console=ttyS0 panic=-1 goipa-demo=deployed-disk-booted\n' >"$work/syslinux.cfg"
mcopy -i "$img@@1M" "$OUT/goipa.kernel" ::/vmlinuz
mcopy -i "$img@@1M" "$work/syslinux.cfg" ::/syslinux.cfg
syslinux -t 1048576 -i "$img"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$img" conv=notrunc bs=440 count=1 status=none
sha=$(sha256sum "$img" | cut -d' ' -f1)
echo "   $(du -h --apparent-size "$img" | cut -f1) image, sha256 $sha"

ironic_port=$(free_port) http_port=$(free_port) agent_port=$(free_port)
python3 -m http.server "$http_port" --bind 127.0.0.1 --directory "$work/www" >"$work/http.log" 2>&1 &
pids+=($!)

disk=$work/disk.raw
truncate -s 2G "$disk"
mac=52:54:00:12:34:56
echo "== starting goipactl as the conductor on 127.0.0.1:$ironic_port"
"$OUT/goipactl" --timeout 10m conductor --listen "127.0.0.1:$ironic_port" --mac "$mac" \
	--image-url "http://10.0.2.100:8080/sample.raw" --image-sha256 "$sha" --root-device /dev/vda \
	--power-off >"$work/report.txt" 2>"$work/conductor.log" &
conductor=$!
pids+=($conductor)

echo "== booting the ramdisk in QEMU (TCG) with an empty 2 GiB disk"
start=$(ms)
qemu-system-x86_64 -machine q35 -m 256 -smp 1 -nodefaults -display none -no-reboot \
	-serial "file:$work/console.log" -monitor none -accel tcg,thread=multi -cpu max \
	-kernel "$OUT/goipa.vmlinux" -initrd "$OUT/goipa.initramfs" \
	-append "console=ttyS0 panic=-1 quiet ipa-api-url=http://10.0.2.100:6385 ipa-advertise-host=127.0.0.1 ipa-advertise-port=$agent_port" \
	-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$agent_port-:9999,guestfwd=tcp:10.0.2.100:6385-cmd:socat - TCP:127.0.0.1:$ironic_port,guestfwd=tcp:10.0.2.100:8080-cmd:socat - TCP:127.0.0.1:$http_port" \
	-device "virtio-net-pci,netdev=n0,mac=$mac" -object rng-random,filename=/dev/urandom,id=rng0 -device virtio-rng-pci,rng=rng0 \
	-drive "if=none,id=d0,file=$disk,format=raw,cache=unsafe,discard=unmap" -device virtio-blk-pci,drive=d0,serial=demo &
qemu=$!
pids+=($qemu)

if ! wait "$conductor"; then
	echo "deploy failed; conductor log:"; cat "$work/conductor.log"; echo "console:"; cat "$work/console.log"; exit 1
fi
# The agent's standby.power_off powers the VM off.
wait "$qemu" || true
end=$(ms)

echo "== goipactl report"
sed 's/^/   /' "$work/report.txt"
echo "== agent (from the serial console)"
grep -a -m1 'ramdisk: ready' "$work/console.log" | sed 's/^.*msg=/   ramdisk ready: /' || true
grep -a -m1 'image written and verified' "$work/console.log" | sed 's/^.*msg="image written and verified"/   image written and verified:/' || true
echo "== verifying the disk"
if cmp -s -n "$(stat -c %s "$img")" "$img" "$disk"; then
	echo "   the disk holds the image byte for byte"
else
	echo "   MISMATCH: the disk differs from the image"; exit 1
fi
echo "== booting the deployed disk"
timeout 120 qemu-system-x86_64 -machine q35 -m 256 -nodefaults -display none -no-reboot -serial "file:$work/boot.log" \
	-monitor none -accel tcg -drive "file=$disk,format=raw,if=virtio" || true
if grep -aq "goipa-demo=deployed-disk-booted" "$work/boot.log"; then
	echo "   $(grep -a -m1 'SYSLINUX' "$work/boot.log" | tr -d '\r')"
	echo "   $(grep -a -m1 'Linux version' "$work/boot.log" | tr -d '\r' | cut -c1-90)"
	echo "   the deployed disk boots (its kernel command line carries goipa-demo=deployed-disk-booted)"
else
	echo "   the deployed disk did not boot:"; tail -20 "$work/boot.log"; exit 1
fi
echo "== demo done in $(((end - start) / 1000)).$(((end - start) % 1000 / 100)) s from QEMU start to power off"
