# shopmesh — the one entry point. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)
MODULES   := pkg gateway order inventory payment shipping paysim e2e tools
# Modules outside the workspace: the images' etcd and collector, and the
# go-zero peer of the hop benchmark (each with its own dependencies).
OTHER_MODULES := deploy/etcd deploy/otelcol bench/zrpc
GATEWAY_PORT ?= 8080
export GATEWAY_PORT
# Ryuk, testcontainers' reaper, would need an image pull; every test removes
# its own containers instead.
export TESTCONTAINERS_RYUK_DISABLED ?= true
# DEV ONLY: the gateway's JWT key in deploy/compose.yaml, so `make token`
# mints tokens that stack accepts. Never use it anywhere real.
JWT_SIGNING_KEY ?= dev-only-insecure-jwt-key-do-not-use-in-prod

# Tool versions, pinned (installed by `make tools` through the Go module proxy).
BUF_VERSION                ?= v1.75.0
GOLANGCI_LINT_VERSION      ?= v2.15.0
PROTOC_GEN_GO_VERSION      ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.6.2
# Kubernetes: the release the manifests are checked against, and the tools
# (kustomize v5.8 needs a newer Go than these machines have).
K8S_VERSION                ?= v1.34.4
KUSTOMIZE_VERSION          ?= v5.7.1
KUBECONFORM_VERSION        ?= v0.7.0
KWOK_VERSION               ?= v0.8.0

# docker compose v2 plugin, or Debian's docker-compose 1.29.
COMPOSE ?= $(shell if docker compose version >/dev/null 2>&1; then echo "docker compose"; else echo docker-compose; fi)
COMPOSE_FILE := deploy/compose.yaml
COMPOSE_PROJECT := shopmesh
# Who may read each container's key in deploy/certs/<name>/: run as root,
# make certs gives it to the uid every image runs as (65532), mode 0600;
# otherwise it cannot, and the keys are world-readable (dev only).
CONTAINER_UID := 65532
CERT_KEY_ACCESS ?= $(if $(filter 0,$(shell id -u)),-key-owner $(CONTAINER_UID),-world-readable)

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: up
up: certs images ## build what is missing and run shopmesh (gateway on 127.0.0.1:8080, or GATEWAY_PORT)
	@img=$$(deploy/postgres/image.sh) && echo "[up] starting the stack with $(COMPOSE), Postgres image $$img" && \
		POSTGRES_IMAGE=$$img $(COMPOSE) -p $(COMPOSE_PROJECT) -f $(COMPOSE_FILE) up -d --remove-orphans
	@scripts/wait-ready.sh "http://127.0.0.1:$(GATEWAY_PORT)"

.PHONY: down
down: ## stop shopmesh and remove its containers, networks and volumes
	@$(COMPOSE) -p $(COMPOSE_PROJECT) -f $(COMPOSE_FILE) down --volumes --remove-orphans

.PHONY: token
token: ## print a dev JWT for `make up` (SUB=alice, ROLES=admin, TTL=1h to change it)
	@JWT_SIGNING_KEY='$(JWT_SIGNING_KEY)' $(GO) run ./gateway/cmd/devtoken -sub '$(or $(SUB),alice)' -roles '$(ROLES)' -ttl '$(or $(TTL),1h)'

.PHONY: logs
logs: ## follow the logs of every service
	@$(COMPOSE) -p $(COMPOSE_PROJECT) -f $(COMPOSE_FILE) logs -f

.PHONY: traces
traces: ## follow the spans the collector receives
	@$(COMPOSE) -p $(COMPOSE_PROJECT) -f $(COMPOSE_FILE) logs -f otelcol

.PHONY: trace
trace: ## draw one trace as a waterfall from the collector's export: make trace ID=<trace id> (an order's trace_id; also writes deploy/.build/trace-<id>.html)
	@case "$(ID)" in "") echo "usage: make trace ID=<trace id, 32 hex digits: an order's trace_id, or a problem's>"; exit 2;; esac
	@mkdir -p deploy/.build
	@id=$$($(COMPOSE) -p $(COMPOSE_PROJECT) -f $(COMPOSE_FILE) ps -q otelcol); \
	test -n "$$id" || { echo "the collector is not running: make up first"; exit 1; }; \
	docker cp "$$id:/data/traces.jsonl" deploy/.build/traces.jsonl >/dev/null
	@$(GO) run ./e2e/cmd/trace -id "$(ID)" -in deploy/.build/traces.jsonl -html "deploy/.build/trace-$(ID).html"

.PHONY: certs
certs: ## write the dev PKI (CA + one cert per service) to deploy/certs, and deploy/certs/<name>/ with only what that container mounts; idempotent; ROTATE=1 re-issues every leaf (services reload it, no restart)
	@$(GO) run ./pkg/cmd/devcerts -out deploy/certs -per-service $(CERT_KEY_ACCESS) $(if $(ROTATE),-reissue)

.PHONY: images
images: ## build every image locally (static binaries FROM scratch; cached)
	@deploy/images.sh

# Postgres image for `make up` and the tests: POSTGRES_IMAGE when set, else
# the official postgres:15 when it can be pulled, else shopmesh/postgres:15
# built from Debian's packages (root, about a minute; cached). One script
# decides, so make and the tests agree: deploy/postgres/image.sh.
.PHONY: postgres-image
postgres-image: ## make sure the Postgres image is present (pull, or build from Debian's packages)
	@echo "[postgres-image] using $$(deploy/postgres/image.sh)"

.PHONY: test
test: test-unit test-e2e ## run every test: unit (race detector on) and end-to-end

.PHONY: test-unit
test-unit: ## unit and in-process integration tests of every module, race detector on
	@echo "[test] unit tests: $(filter-out e2e,$(MODULES))"
	@pkgs=$$($(GO) list $(foreach m,$(filter-out e2e,$(MODULES)),./$(m)/...)); \
	pg=$$(grep -rl 'postgres/pgtest"' --include='*_test.go' $(filter-out e2e,$(MODULES)) | xargs -n1 dirname | sort -u | sed 's|^|./|'); \
	pgpkgs=$$($(GO) list $$pg); \
	others=$$(echo "$$pkgs" | grep -vxF "$$pgpkgs"); \
	echo "[test] packages without Postgres, two at a time"; \
	$(GO) test -race -count=1 -timeout 10m $$others && \
	echo "[test] packages with a Postgres container, one at a time (their saga suites place 20 orders at once, each write within its 500ms budget)" && \
	$(GO) test -race -count=1 -timeout 15m -p 1 $$pgpkgs

.PHONY: test-e2e
test-e2e: ## end-to-end tests against the real images (needs Docker)
	@echo "[test] end-to-end tests (builds images first; cached after the first run)"
	@$(GO) test -count=1 -timeout 30m -v ./e2e/...

.PHONY: bench
bench: bench-hop bench-discovery bench-footprint bench-checkout bench-overload ## run every benchmark (docs/benchmarks.md, docs/discovery.md, docs/deadlines.md)

.PHONY: bench-quick
bench-quick: ## a fast check, about a minute: one hop as × bare mTLS, and discovery propagation over 20 trials
	@cd pkg/platform && $(GO) test -run '^$$' -bench 'Hop/ratio' -benchtime 60x -count 3 ./grpcx/ | grep -E '^(Benchmark|cpu)'
	@$(GO) test -run '^$$' -bench Propagation -benchtime 20x ./pkg/platform/internal/meshtest/ | grep -E '^(Benchmark|cpu)'

.PHONY: bench-footprint
bench-footprint: certs images ## image sizes, idle memory, start-to-ready per service and a warm make up (docs/bench/footprint.md; leaves the stack up)
	@MAKE='$(MAKE)' scripts/bench-footprint.sh

.PHONY: bench-hop
bench-hop: ## what one gRPC hop costs through the platform, and through go-zero's zrpc, against bare grpc-go (docs/benchmarks.md, docs/hop.png)
	@echo "[bench] one unary hop: bare plaintext, bare mTLS, platform, platform always traced"
	@cd pkg/platform && $(GO) test -run '^$$' -bench Hop -benchmem -benchtime 3s -count 3 -v ./grpcx/ | grep -E '^(Benchmark|goos|goarch|pkg|cpu)' | tee ../../docs/bench/hop.txt
	@echo "[bench] the same hop through go-zero's zrpc with its defaults, a peer (bench/zrpc, a module outside go.work)"
	@cd bench/zrpc && GOWORK=off $(GO) test -run '^$$' -bench PeerHop -benchmem -benchtime 3s -count 3 . | grep -E '^(Benchmark|cpu)' | tee ../../docs/bench/zrpc.txt
	@$(GO) run ./e2e/cmd/benchplot -kind hop -o docs/hop.png docs/bench/hop.txt docs/bench/zrpc.txt && echo "[bench] docs/hop.png drawn"
	@echo "[bench] budgets through three hops: 5 × 200 requests with 300 ms left, hops of up to 250 ms"
	@cd pkg/platform && $(GO) test -run '^$$' -bench Chain -benchtime 5x ./grpcx/ | grep -E '^(Benchmark|cpu)' | tee ../../docs/bench/chain.txt

.PHONY: bench-discovery
bench-discovery: ## discovery propagation, killed instances (docs/discovery.md) and balancing around a slow instance (docs/benchmarks.md, docs/balancing.png)
	@echo "[bench] discovery propagation, 100 trials"
	@$(GO) test -run '^$$' -bench Propagation -benchtime 100x ./pkg/platform/internal/meshtest/
	@echo "[bench] killed instance, 20 kills"
	@$(GO) test -run '^$$' -bench KilledInstance -benchtime 20x ./pkg/platform/internal/meshtest/
	@echo "[bench] balancing with one instance 50 ms slow, round-robin and least-request, 3 runs of 5 × 800 calls each"
	@$(GO) test -run '^$$' -bench Balancing -benchtime 5x -count 3 ./pkg/platform/internal/meshtest/ | grep -E '^(Benchmark|goos|goarch|pkg|cpu)' | tee docs/bench/balancing.txt
	@$(GO) run ./e2e/cmd/benchplot -kind balancing -o docs/balancing.png docs/bench/balancing.txt && echo "[bench] docs/balancing.png drawn"

.PHONY: bench-checkout
bench-checkout: up ## the checkout path at rising rates, catalog reads, each service's CPU profile at saturation and CPU per order (docs/benchmarks.md; ~17 min)
	@JWT_SIGNING_KEY='$(JWT_SIGNING_KEY)' GO='$(GO)' scripts/bench-checkout.sh

.PHONY: bench-overload
bench-overload: up ## the saturation rate, goodput and latency from 0.25× to 4× it, slow and flaky provider, with and without the limits (docs/deadlines.md; ~30 min)
	@COMPOSE='$(COMPOSE)' JWT_SIGNING_KEY='$(JWT_SIGNING_KEY)' scripts/bench-overload.sh

.PHONY: lint
lint: ## gofmt, shopmesh's analyzers, golangci-lint over every module, buf lint (docs/testing.md, "Lint")
	@echo "[lint] gofmt"; out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@echo "[lint] shopmesh analyzers (tools/analyzers: the rules of DESIGN.md)"; $(GO) run ./tools/cmd/shopmeshvet $(foreach m,$(MODULES),./$(m)/...)
	@command -v golangci-lint >/dev/null || { echo "golangci-lint not installed: run 'make tools'"; exit 1; }
	@golangci-lint version | grep -q "version $(GOLANGCI_LINT_VERSION:v%=%)" || { echo "golangci-lint is not $(GOLANGCI_LINT_VERSION): run 'make tools'"; exit 1; }
	@for m in $(MODULES); do echo "[lint] golangci-lint $$m"; (cd $$m && golangci-lint run ./...) || exit 1; done
	@for m in $(OTHER_MODULES); do echo "[lint] golangci-lint $$m (GOWORK=off)"; (cd $$m && GOWORK=off golangci-lint run ./...) || exit 1; done
	@echo "[lint] each module builds on its own (GOWORK=off)"; for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) mod verify >/dev/null) || { echo "$$m does not build outside the workspace: its go.mod misses a require"; exit 1; }; done
	@echo "[lint] buf lint"; if command -v buf >/dev/null; then (cd pkg/api && buf lint); else echo "buf not installed: run 'make tools'"; exit 1; fi

.PHONY: tools
tools: ## install buf, the protoc plugins, golangci-lint, kustomize and kubeconform (Go module proxy only; cached by go's build cache)
	$(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	$(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	$(GO) install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)
	$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

.PHONY: k8s-check
k8s-check: ## deploy/k8s: every overlay built and validated strictly against Kubernetes $(K8S_VERSION)'s schemas (planted mistakes must fail), then applied to a real control plane with kwok's fake nodes (docs/kubernetes.md)
	@K8S_VERSION=$(K8S_VERSION) scripts/k8s-check.sh
	@KWOK_VERSION=$(KWOK_VERSION) scripts/k8s-cluster-check.sh

.PHONY: proto
proto: ## lint the .proto files and regenerate the Go code in pkg/api
	@command -v buf >/dev/null || { echo "buf not installed: run 'make tools'"; exit 1; }
	cd pkg/api && buf lint && buf generate
