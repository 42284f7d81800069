# make test: formatting, vet, staticcheck and every test (Postgres, network
# namespaces, browser and terraform included). It installs what it needs.

GO            ?= go
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOBIN         := $(shell $(GO) env GOPATH)/bin
TEST_TIMEOUT  ?= 25m
TEST_FLAGS    ?=

.PHONY: test fmt vet lint gotest deps build bench fuzz

test: deps fmt vet lint gotest

# One static binary (DESIGN.md §2): no cgo, so a prober host needs no libc.
build:
	CGO_ENABLED=0 $(GO) build -o bin/picket ./cmd/picket

# deps installs the system packages the tests drive, only when missing.
deps:
	@bash scripts/test-deps.sh

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint:
	@test -x $(GOBIN)/staticcheck || $(GO) install $(STATICCHECK)
	$(GOBIN)/staticcheck ./...

gotest:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
