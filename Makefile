# Tollgate. `make run` starts the gateway locally; `make test` runs every test.
SHELL := /bin/bash

GO_TOOL      := go tool -modfile=tests/tools/go.mod
DYNALITE     := node tests/tools/dynalite.js # dynalite, surviving clients that hang up mid-request
FUNCTIONS    := chat embeddings knowledge ingest sessions usage health admin budget-reset
LAMBDA_ENV   := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LAMBDA_BUILD := go build -tags lambda.norpc -trimpath -ldflags='-s -w'

# make run settings (override on the command line: make run PORT=9000)
PORT          ?= 8080
DYNALITE_PORT ?= 8000
ADMIN_API_KEY ?= local-admin-key
DEMO_TENANT   ?= demo
MODELS        ?= echo/echo-1
LOCAL_ENV = MODELS="$(MODELS)" AWS_REGION=$${AWS_REGION:-us-east-1} AWS_ACCESS_KEY_ID=$${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=$${AWS_SECRET_ACCESS_KEY:-local} \
	AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$(DYNALITE_PORT) \
	PORT=$(PORT) ADMIN_API_KEY=$(ADMIN_API_KEY) TABLE_NAME=$${TABLE_NAME:-tollgate}

.PHONY: run test tools lint unit fuzz build clean bench

## run: local DynamoDB-compatible server (dynalite, data in .local/), the table, a demo tenant, the gateway on :$(PORT)
run: tools
	@mkdir -p .local/dynalite
	@set -e; \
	$(DYNALITE) --host 127.0.0.1 --port $(DYNALITE_PORT) --path .local/dynalite >.local/dynalite.log 2>&1 & dpid=$$!; \
	trap 'kill $$dpid 2>/dev/null; wait $$dpid 2>/dev/null' EXIT; \
	for i in $$(seq 100); do (echo >/dev/tcp/127.0.0.1/$(DYNALITE_PORT)) 2>/dev/null && break; sleep 0.1; done; \
	echo "dynalite on 127.0.0.1:$(DYNALITE_PORT) (log: .local/dynalite.log); admin key: $(ADMIN_API_KEY)"; \
	$(LOCAL_ENV) go run ./functions/local -demo $(DEMO_TENANT)

## test: everything CI checks: formatting, vet, staticcheck, all tests under -race
test: tools lint unit

## tools: install what tests and run need (Go modules, dynalite from npm, pinned Go tools)
tools: tests/tools/node_modules/.installed
	go mod download
	cd tests/tools && go mod download

tests/tools/node_modules/.installed: tests/tools/package.json tests/tools/package-lock.json
	npm ci --prefix tests/tools --no-audit --no-fund
	touch $@

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...
	$(GO_TOOL) staticcheck ./...

unit:
	go test -race -count=1 -timeout 15m ./...

## fuzz: run each fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	go test -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME) ./shared/tenant
	go test -run '^$$' -fuzz '^FuzzParseKey$$' -fuzztime $(FUZZTIME) ./shared/tenant
	go test -run '^$$' -fuzz '^FuzzDecodeChatRequest$$' -fuzztime $(FUZZTIME) ./shared/gateway
	go test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./shared/sse
	go test -run '^$$' -fuzz '^FuzzStream$$' -fuzztime $(FUZZTIME) ./shared/provider/openai
	go test -run '^$$' -fuzz '^FuzzExample$$' -fuzztime $(FUZZTIME) ./shared/schema
	go test -run '^$$' -fuzz '^FuzzDecodeEmbeddings$$' -fuzztime $(FUZZTIME) ./shared/gateway
	go test -run '^$$' -fuzz '^FuzzCount$$' -fuzztime $(FUZZTIME) ./shared/tokens
	go test -run '^$$' -fuzz '^FuzzDecodeResponses$$' -fuzztime $(FUZZTIME) ./shared/gateway
	go test -run '^$$' -fuzz '^FuzzDecodeJob$$' -fuzztime $(FUZZTIME) ./shared/knowledge
	go test -run '^$$' -fuzz '^FuzzFilter$$' -fuzztime $(FUZZTIME) ./shared/vectors
	go test -run '^$$' -fuzz '^FuzzText$$' -fuzztime $(FUZZTIME) ./shared/extract
	go test -run '^$$' -fuzz '^FuzzSplit$$' -fuzztime $(FUZZTIME) ./shared/chunk

## build: every Lambda bootstrap for linux/arm64 into .build/<function>/bootstrap
build: $(FUNCTIONS:%=build-%)
build-%:
	$(LAMBDA_ENV) $(LAMBDA_BUILD) -o .build/$*/bootstrap ./functions/$*

# sam build (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR set.
build-ChatFunction:
	$(LAMBDA_ENV) $(LAMBDA_BUILD) -o $(or $(ARTIFACTS_DIR),$(error ARTIFACTS_DIR is unset; sam build sets it))/bootstrap ./functions/chat
build-EmbeddingsFunction:
	$(LAMBDA_ENV) $(LAMBDA_BUILD) -o $(or $(ARTIFACTS_DIR),$(error ARTIFACTS_DIR is unset; sam build sets it))/bootstrap ./functions/embeddings
build-KnowledgeFunction:
	$(LAMBDA_ENV) $(LAMBDA_BUILD) -o $(or $(ARTIFACTS_DIR),$(error ARTIFACTS_DIR is unset; sam build sets it))/bootstrap ./functions/knowledge
build-IngestFunction:
	$(LAMBDA_ENV) $(LAMBDA_BUILD) -o $(or $(ARTIFACTS_DIR),$(error ARTIFACTS_DIR is unset; sam build sets it))/bootstrap ./functions/ingest
build-SessionsFunction:
	$(LAMBDA_ENV) $(LAMBDA_BUILD) -o $(or $(ARTIFACTS_DIR),$(error ARTIFACTS_DIR is unset; sam build sets it))/bootstrap ./functions/sessions
build-UsageFunction:
	$(LAMBDA_ENV) $(LAMBDA_BUILD) -o $(or $(ARTIFACTS_DIR),$(error ARTIFACTS_DIR is unset; sam build sets it))/bootstrap ./functions/usage
build-BudgetResetFunction:
	$(LAMBDA_ENV) $(LAMBDA_BUILD) -o $(or $(ARTIFACTS_DIR),$(error ARTIFACTS_DIR is unset; sam build sets it))/bootstrap ./functions/budget-reset
build-HealthFunction:
	$(LAMBDA_ENV) $(LAMBDA_BUILD) -o $(or $(ARTIFACTS_DIR),$(error ARTIFACTS_DIR is unset; sam build sets it))/bootstrap ./functions/health
build-AdminFunction:
	$(LAMBDA_ENV) $(LAMBDA_BUILD) -o $(or $(ARTIFACTS_DIR),$(error ARTIFACTS_DIR is unset; sam build sets it))/bootstrap ./functions/admin

clean:
	rm -rf .build .local

## bench: overhead vs the fake provider, throughput, CPU and memory, DynamoDB calls per
## request, cold starts and binary sizes, micro-benchmarks; results in $(BENCH_OUT),
## explained in docs/benchmarks.md; knowledge-base ingestion, search and file_search chat.
## Loopback only; about 5 minutes.
BENCH_OUT   ?= tests/bench/testdata
BENCH_COUNT ?= 6
BENCH_TIME  ?= 200ms
BENCH_FLAGS ?=
BENCH_PKGS  := ./shared/dynamo ./shared/sse ./shared/gateway ./shared/tokens ./shared/tenant ./shared/provider/openai ./tests/bench ./tests/kb
bench: tools
	@mkdir -p $(BENCH_OUT) .build/bench
	set -o pipefail; go test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) -benchtime $(BENCH_TIME) $(BENCH_PKGS) | tee $(BENCH_OUT)/micro.txt
	set -o pipefail; go test -run '^$$' -bench '^Benchmark(Query|Put)$$' -benchmem -count 3 ./shared/vectors/embedded | tee $(BENCH_OUT)/vectors.txt
	go build -o .build/bench/tollbench ./tests/bench/cmd/tollbench
	.build/bench/tollbench run -out $(BENCH_OUT) -work .build/bench -micro $(BENCH_OUT)/micro.txt $(BENCH_FLAGS)
