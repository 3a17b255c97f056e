.PHONY: run test browser-test inbound load push-bench build-release sizes fmt lint bench bench-lambda lambda-arm64

## Start everything locally (emulator, table, Twilio stand-in, gateway on $PORT)
run:
	scripts/run.sh

## Run every check and test (starts and stops its own emulator)
test:
	scripts/test.sh

## Only the browser tests of web/ (headless Chromium; part of `make test`)
browser-test:
	scripts/browser-test.sh

## Send a signed inbound WhatsApp/SMS webhook through the running stack
inbound:
	scripts/inbound.sh

## Load run: N signed webhooks through the local stack, none lost or doubled
load:
	scripts/load.sh $(N) $(CONTACTS) $(DELIVERIES)

## Real-time push latency on the local stack: webhook/POST -> socket, p50/p99 over N (200)
push-bench:
	scripts/push-bench.sh $(N)

## Criterion benchmark of the webhook ingest path (signature + parse + envelope)
bench:
	cargo bench -p webhook-ingest --bench ingest

## Cold start and CPU per invocation of release binaries behind a fake
## Runtime API, AWS over HTTPS to a local stub (DynamoDB and Twilio answers
## replayed from bench/replay/), free core and 7.2 % of a core; webhook-ingest
## also as deployed (its secret from Secrets Manager) (BENCHMARKS.md,
## "Lambda-like runs"); BIN_DIR=... for another build
bench-lambda:
	cargo build --release -p webhook-ingest -p process-inbound -p send-message
	bench/lambda.sh $(BIN_DIR)

## arm64 builds of every function with cargo-lambda (installed into .venv
## with zig) and their zip -9 sizes
lambda-arm64:
	scripts/lambda-arm64.sh

## Release binaries of every function (sizes in BENCHMARKS.md)
build-release:
	cargo build --release $(foreach f,$(notdir $(wildcard functions/*)),-p $(f))

sizes: build-release
	@ls -l $(foreach f,$(notdir $(wildcard functions/*)),target/release/$(f)) | awk '{printf "%-32s %8.2f MB\n", $$9, $$5/1048576}'

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings
