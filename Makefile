# goipa — see README.md. Every target that needs system packages installs them
# first (Debian 12, as root), so a fresh machine runs `make demo` / `make test`.

GO       ?= go
OUT      ?= out
GOFLAGS  ?=
export CGO_ENABLED = 0
export GOAMD64 = v1
# A go.work in a parent directory must not redirect the build.
export GOWORK = off

.PHONY: all build test unit-test lint clean deps-test deps-ironic deps-ironic35 demo deps-demo bench
all: build

build:
	@mkdir -p $(OUT)
	$(GO) build -trimpath -ldflags '-s -w' -o $(OUT)/goipa ./cmd/goipa
	$(GO) build -trimpath -ldflags '-s -w' -o $(OUT)/goipactl ./cmd/goipactl

# staticcheck, pinned; fetched through the module proxy on first use.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

unit-test: lint
	$(GO) test -count=1 -timeout 40m ./...

test: deps-test deps-ironic deps-ironic35 unit-test

# Debian's real Ironic for the end-to-end tests (e2e/). The packages' services
# are not started: the tests run their own all-in-one `ironic` on 127.0.0.1.
APT_STAMP := $(OUT)/.apt-updated
$(APT_STAMP):
	@mkdir -p $(OUT)
	apt-get update -qq
	touch $@

# Tools the disk, image and RAID tests check their work with (and qemu-img,
# the oracle for qcow2; dmidecode, the oracle for the dmi-decode collector).
DEPS_TEST := qemu-utils gdisk fdisk dosfstools mtools genisoimage e2fsprogs util-linux mdadm dmidecode
deps-test: $(APT_STAMP)
	@dpkg -s $(DEPS_TEST) >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEPS_TEST)

# ironic-inspector: Ironic 21.4 has no built-in inspection endpoint.
# pxelinux, syslinux-common: what Ironic's pxe boot interface expects in its
# TFTP root.
IRONIC_DEBS := ironic-api ironic-conductor python3-ironicclient ironic-inspector pxelinux syslinux-common
deps-ironic: $(APT_STAMP)
	@dpkg -s $(IRONIC_DEBS) >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(IRONIC_DEBS)

clean:
	rm -rf $(OUT)

# make bench: ratios measured side by side in one run (not timed tests).
# The peers read images over HTTP: qemu-img's curl driver is in
# qemu-block-extra.
BENCH_DEBS := qemu-block-extra curl xz-utils gdisk iproute2
.PHONY: deps-bench
deps-bench: $(APT_STAMP)
	@dpkg -s $(BENCH_DEBS) >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BENCH_DEBS)

bench: export GOIPA_BENCH = 1
bench: export GOIPA_KERNEL = $(abspath $(OUT))/goipa.vmlinux
bench: export GOIPA_INITRD = $(abspath $(OUT))/goipa.initramfs
bench: export GOIPA_INITRD_VM = $(abspath $(OUT))/goipa-vm.initramfs
bench: export GOIPA_IRONIC35_ROOT = $(IRONIC35_ROOT)
bench: deps-test deps-bench deps-qemu deps-ironic35 kernel $(OUT)/goipa.initramfs $(OUT)/goipa-vm.initramfs
	@$(GO) test -count=1 -timeout 30m -v -run '^TestBootBench$$' ./qemu | grep '^BENCH'
	@$(GO) test -count=1 -timeout 60m -v -run '^(TestBench|TestBenchFleet)$$' ./image | grep '^BENCH'
	@$(GO) test -count=1 -v -run '^TestBenchInventory$$' ./hardware | grep '^BENCH'
	@$(GO) test -count=1 -timeout 30m -v -run '^TestRealIronicBench$$' ./e2e | grep '^BENCH'

# make demo: the README's first command (demo/run.sh says what it does).
DEMO_DEBS := syslinux syslinux-common mtools dosfstools fdisk python3
deps-demo: $(APT_STAMP)
	@dpkg -s $(DEMO_DEBS) >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEMO_DEBS)

demo: deps-demo ramdisk build
	OUT=$(OUT) demo/run.sh

# --- Ramdisk: Debian kernel + u-root initramfs with goipa (initramfs/build.sh;
# musl-tools and dpkg-dev build its static mdadm from Debian's source),
# and QEMU for the VM tests (qemu/). Downloads and staging go to $(CACHE),
# outside the clone, so a fresh clone on the same machine (CI) reuses the
# kernel, mdadm and the GRUB root instead of fetching them again.
CACHE ?= /var/cache/goipa
export CACHE
QEMU_DEBS := qemu-system-x86 qemu-utils socat mdadm cpio zstd xz-utils kmod ca-certificates ovmf \
	musl-tools dpkg-dev make debootstrap
RAMDISK_SRC = $(shell find . \( -path ./.cache -o -path ./$(OUT) \) -prune -o \
	\( -name '*.go' -o -name go.mod -o -name go.sum \) -print) $(wildcard initramfs/*.txt) initramfs/build.sh

.PHONY: deps-qemu kernel ramdisk ramdisk-debug
deps-qemu: $(APT_STAMP)
	@dpkg -s $(QEMU_DEBS) >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(QEMU_DEBS)

# out/goipa.kernel is the bzImage for real machines; out/goipa.vmlinux the
# same kernel uncompressed, which QEMU boots (PVH) seconds faster under TCG.
kernel: deps-qemu
	initramfs/build.sh kernel $(OUT)

# Two profiles (initramfs/modules-PROFILE.txt): server, the default, for
# real racks (every NIC, HBA and USB driver of an IPA ramdisk, and their
# firmware); vm for QEMU, KVM and cloud VMs: make ramdisk PROFILE=vm.
PROFILE ?= server
RAMDISK_FILE = $(OUT)/goipa$(if $(filter vm,$(PROFILE)),-vm).initramfs
ramdisk: kernel $(RAMDISK_FILE)
$(OUT)/goipa.initramfs: $(OUT)/goipa.kernel $(RAMDISK_SRC)
	PROFILE=server initramfs/build.sh ramdisk ./cmd/goipa $@
$(OUT)/goipa-vm.initramfs: $(OUT)/goipa.kernel $(RAMDISK_SRC)
	PROFILE=vm initramfs/build.sh ramdisk ./cmd/goipa $@

# Adds a shell (gosh) and a few u-root tools.
ramdisk-debug: kernel $(OUT)/goipa-debug.initramfs
$(OUT)/goipa-debug.initramfs: $(OUT)/goipa.kernel $(RAMDISK_SRC)
	PROFILE=$(PROFILE) initramfs/build.sh ramdisk ./cmd/goipa $@ debug

# A Debian root file system with GRUB, the root of the partition images
# whose boot loader the VM tests install (qemu/grub_test.go).
.PHONY: grub-root
grub-root: $(OUT)/grub-root.tar
# Cached under the script's hash: a new clone's mtimes say nothing.
GRUB_ROOT_CACHED = $(CACHE)/grub-root-$(shell sha256sum qemu/grubroot.sh | cut -c1-16).tar
$(OUT)/grub-root.tar: $(GRUB_ROOT_CACHED)
	@mkdir -p $(OUT)
	ln -f $< $@ 2>/dev/null || cp $< $@
$(GRUB_ROOT_CACHED): | deps-qemu
	@mkdir -p $(CACHE)
	qemu/grubroot.sh $@.tmp && mv $@.tmp $@

# Ironic 35.0.1 (and IPA 13) from Debian forky, in a root file system the
# e2e tests chroot into; the same scenarios run against 21.4 and 35.
# Cached under the script's hash, as the GRUB root; about 12 minutes and 1 GB
# the first time.
IRONIC35_ROOT = $(CACHE)/forky-root-$(shell sha256sum e2e/ironiclab/forkyroot.sh | cut -c1-16)
deps-ironic35: $(IRONIC35_ROOT)
$(IRONIC35_ROOT): | deps-qemu
	@mkdir -p $(CACHE)
	e2e/ironiclab/forkyroot.sh $@

# The VM tests in qemu/ boot these; without them they skip. Under `make test`
# the images are built before the tests run.
ifneq ($(filter test,$(MAKECMDGOALS)),)
unit-test: deps-qemu kernel $(OUT)/goipa.initramfs $(OUT)/goipa-vm.initramfs grub-root
endif
test: export GOIPA_KERNEL = $(abspath $(OUT))/goipa.vmlinux
test: export GOIPA_INITRD = $(abspath $(OUT))/goipa.initramfs
test: export GOIPA_INITRD_VM = $(abspath $(OUT))/goipa-vm.initramfs
test: export GOIPA_GRUB_ROOT = $(abspath $(OUT))/grub-root.tar
test: export GOIPA_IRONIC35_ROOT = $(IRONIC35_ROOT)
