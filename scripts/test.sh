#!/usr/bin/env bash
# make test: installs what it needs, starts the emulator on a free port,
# runs formatting, lints, every test and the template check, stops what it
# started. `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
scripts/venv.sh
mkdir -p .local
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
scripts/moto.sh "$port" .local/moto-test.pid .local/moto-test.log
trap 'kill "$(cat .local/moto-test.pid)" 2>/dev/null || true' EXIT INT TERM
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
# Tests use their own Twilio stand-in; real credentials must not leak in.
unset TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN TWILIO_API_KEY_SID TWILIO_API_KEY_SECRET \
  TWILIO_CONVERSATIONS_BASE_URL TWILIO_API_BASE_URL || true

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo machete (no unused dependencies)"
command -v cargo-machete >/dev/null 2>&1 || cargo install cargo-machete --locked --version 0.9.2 --quiet
cargo machete
echo "==> shared crate: no import cycle between modules"
python3 scripts/module-graph.py
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cargo test"
cargo test --workspace 2>&1 | tee .local/cargo-test.log
echo "==> release build of every function (what a deploy compiles; rustc's release-only limits)"
make --no-print-directory build-release
echo "==> browser tests (web/ in headless Chromium)"
scripts/browser-test.sh 2>&1 | tee .local/browser-test.log
echo "==> sam validate --lint"
scripts/sam-validate.sh
echo "==> all checks passed in $(( $(date +%s) - started ))s"
# One closing line with the totals of every cargo test binary and the
# browser tests (node's test runner: "ℹ pass N", "ℹ fail N", "ℹ skipped N").
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     /^ℹ pass / { p += $3 } /^ℹ fail / { f += $3 } /^ℹ skipped / { i += $3 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' \
  .local/cargo-test.log .local/browser-test.log
