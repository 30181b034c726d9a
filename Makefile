# goipa — see README.md. Every target that needs system packages installs them
# first (Debian 12, as root), so a fresh machine runs `make demo` / `make test`.

GO       ?= go
OUT      ?= out
GOFLAGS  ?=
export CGO_ENABLED = 0
export GOAMD64 = v1

.PHONY: all build test unit-test clean deps-test deps-ironic
all: build

build:
	@mkdir -p $(OUT)
	$(GO) build -trimpath -ldflags '-s -w' -o $(OUT)/goipa ./cmd/goipa
	$(GO) build -trimpath -ldflags '-s -w' -o $(OUT)/goipactl ./cmd/goipactl

unit-test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

test: deps-test deps-ironic unit-test

# Debian's real Ironic for the end-to-end tests (e2e/). The packages' services
# are not started: the tests run their own all-in-one `ironic` on 127.0.0.1.
APT_STAMP := $(OUT)/.apt-updated
$(APT_STAMP):
	@mkdir -p $(OUT)
	apt-get update -qq
	touch $@

# Tools the disk, image and RAID tests check their work with (and qemu-img,
# the oracle for qcow2).
DEPS_TEST := qemu-utils gdisk fdisk dosfstools mtools genisoimage e2fsprogs util-linux mdadm
deps-test: $(APT_STAMP)
	@dpkg -s $(DEPS_TEST) >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEPS_TEST)

deps-ironic: $(APT_STAMP)
	@test -x /usr/bin/ironic || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		ironic-api ironic-conductor python3-ironicclient

clean:
	rm -rf $(OUT)
