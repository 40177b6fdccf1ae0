# svcmirror: `make demo` shows it working, `make test` runs every test.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN      := bin/svcmirror
LDFLAGS  := -s -w -X main.version=$(VERSION)
# Packages with unit tests: everything but the e2e tests themselves.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v '/e2e$$')

.PHONY: build image test unit e2e lint testbed host-packages demo bench bench-large clean

## build: the static svcmirror binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

## image: an OCI image archive of the static binary, from scratch, without a container engine
## or the network (manifests/image); load it with podman load, docker load or skopeo.
## Reproducible: the commit time stands for the build time (SOURCE_DATE_EPOCH overrides it).
## IMAGEFLAGS passes flags to manifests/image, e.g. IMAGEFLAGS='-name ghcr.io/me/svcmirror'
IMAGE_TAR         := bin/svcmirror-image.tar
REVISION          ?= $(shell git rev-parse HEAD 2>/dev/null)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGEFLAGS        ?=
image: build
	$(GO) run ./manifests/image -binary $(BIN) -o $(IMAGE_TAR) -version '$(VERSION)' \
		-revision '$(REVISION)' -source-date-epoch '$(SOURCE_DATE_EPOCH)' $(IMAGEFLAGS)

## test: formatting and vet, unit tests with -race, then the e2e tests
test: lint unit e2e

unit:
	$(GO) test -race -count=1 $(UNIT_PKGS)

e2e: host-packages testbed build
	SVCMIRROR_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 40m ./e2e/

## demo: two local clusters, a linked pair, mc-demo/bb exported and its mirror shown; Ctrl-C stops it
demo: host-packages testbed build
	$(GO) run ./e2e/demo -svcmirror $(BIN)

## bench: convergence, writes, latency and memory against the floor (see BENCHMARKS.md);
## BENCHFLAGS passes flags to e2e/bench, e.g. BENCHFLAGS='-sizes 500 -quiet 10s'
BENCHFLAGS ?= -sizes 500,2000,5000 -profile-dir .cache/profiles
bench: testbed build
	$(GO) run ./e2e/bench -svcmirror $(BIN) $(BENCHFLAGS)

## bench-large: peak RSS at the memory targets' sizes, one round each and no failover: 10,000
## Services (under 96 MiB) from a cold start, then 50,000 (under 256 MiB) with a live set-up and
## three restarts (the verdict takes the highest peak), since set-up then convergence takes over
## 4 h here (about 2 h this way); the daemon runs with the Deployment's GOMEMLIMIT=256MiB;
## BENCHLARGE= or BENCHHUGE= skips one
BENCHLARGE ?= -sizes 10000
BENCHHUGE ?= -sizes 50000 -no-floor -live-setup -restarts 3 -no-unexport -changes 50 -flaps 30 -daemon-args=--workers=16 -daemon-env=GOMEMLIMIT=256MiB
bench-large: testbed build
	$(if $(strip $(BENCHLARGE)),$(GO) run ./e2e/bench -svcmirror $(BIN) -rounds 1 -quiet 10s -failover 0 $(BENCHLARGE))
	$(if $(strip $(BENCHHUGE)),$(GO) run ./e2e/bench -svcmirror $(BIN) -rounds 1 -quiet 10s -failover 0 $(BENCHHUGE))

## lint: gofmt check and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## testbed: etcd, kube-apiserver, kube-controller-manager, kube-proxy and CoreDNS from pinned modules, into .cache/
testbed:
	@bash e2e/clusterbins/build.sh >/dev/null
	@bash e2e/clusterbins/net/build.sh >/dev/null

## host-packages: nft, ip and unshare for the flat-network test bed (installed with apt-get as root)
host-packages:
	@bash e2e/clusterbins/host-packages.sh

clean:
	rm -rf bin .cache
