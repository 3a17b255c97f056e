#!/usr/bin/env bash
# Browser tests of the web app (web/) in Debian's headless Chromium, driven
# by playwright-core (no browser download). Installs Chromium and the npm
# package on first use, starts the local stack (the `local` dev binary) on
# free ports against the emulator at AWS_ENDPOINT_URL (started here if
# unset), runs browser-tests/tests/*.test.js with node's test runner, and
# stops what it started. Screenshots go to .local/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .local/screenshots

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium and chromium-driver (first run only)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
fi

# npm ci on first use and whenever the lock file is newer than the install.
if [ ! -d browser-tests/node_modules/playwright-core ] \
  || [ browser-tests/package-lock.json -nt browser-tests/node_modules/.package-lock.json ]; then
  echo "installing playwright-core (npm ci in browser-tests/)"
  (cd browser-tests && npm ci --no-audit --no-fund --silent)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  scripts/venv.sh
  moto_port=$(free_port)
  scripts/moto.sh "$moto_port" .local/moto-browser.pid .local/moto-browser.log
  pids+=("$(cat .local/moto-browser.pid)")
  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
fi
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
# The stand-in, never real Twilio.
unset TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN TWILIO_API_KEY_SID TWILIO_API_KEY_SECRET \
  TWILIO_CONVERSATIONS_BASE_URL TWILIO_API_BASE_URL PUBLIC_BASE_URL AUTH_JWT_SECRET \
  BOOKINGS_URL BOOKINGS_KEY || true

cargo build --quiet -p dev --bin local
port=$(free_port)
standin_port=$(free_port)
bookings_port=$(free_port)
meta_port=$(free_port)
PORT=$port TWILIO_STANDIN_PORT=$standin_port BOOKINGS_STANDIN_PORT=$bookings_port \
  META_STANDIN_PORT=$meta_port DEMO=0 \
  TABLE_NAME="browser-$(date +%s)-$$" RUST_LOG="${RUST_LOG:-warn}" \
  target/debug/local >.local/browser-stack.log 2>&1 &
pids+=("$!")
for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "${pids[-1]}" 2>/dev/null; then
    echo "the local stack exited; its log:" >&2
    cat .local/browser-stack.log >&2
    exit 1
  fi
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null

export WEB_BASE_URL="http://127.0.0.1:$port"
export STANDIN_URL="http://127.0.0.1:$standin_port"
export SCREENSHOT_DIR="$PWD/.local/screenshots"
cd browser-tests
node --test --test-concurrency=1 --test-reporter=spec tests/
