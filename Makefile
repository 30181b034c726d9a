# goipa — see README.md. Every target that needs system packages installs them
# first (Debian 12, as root), so a fresh machine runs `make demo` / `make test`.

GO       ?= go
OUT      ?= out
GOFLAGS  ?=
export CGO_ENABLED = 0
export GOAMD64 = v1

.PHONY: all build test unit-test lint clean
all: build

build:
	@mkdir -p $(OUT)
	$(GO) build -trimpath -ldflags '-s -w' -o $(OUT)/goipa ./cmd/goipa
	$(GO) build -trimpath -ldflags '-s -w' -o $(OUT)/goipactl ./cmd/goipactl

unit-test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

test: unit-test

clean:
	rm -rf $(OUT)
