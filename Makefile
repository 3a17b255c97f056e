.PHONY: run test build-release sizes fmt lint

## Start everything locally (emulator, table, Twilio stand-in, gateway on $PORT)
run:
	scripts/run.sh

## Run every check and test (starts and stops its own emulator)
test:
	scripts/test.sh

## Release binaries of every function (sizes in BENCHMARKS.md)
build-release:
	cargo build --release $(foreach f,$(notdir $(wildcard functions/*)),-p $(f))

sizes: build-release
	@ls -l $(foreach f,$(notdir $(wildcard functions/*)),target/release/$(f)) | awk '{printf "%-32s %8.2f MB\n", $$9, $$5/1048576}'

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings
