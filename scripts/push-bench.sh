#!/usr/bin/env bash
# Real-time push latency on the local stack (see dev/src/bin/pushbench.rs):
# N inbound webhooks to an agent's socket and N chat sends to the other
# participant's socket, one at a time; p50/p99 and requests per event.
# Usage: scripts/push-bench.sh [N] (default 200)
#   PROFILE=debug scripts/push-bench.sh 200   uses the debug build instead of
#   building the release one (figures then include debug-build overhead).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
mkdir -p .local
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
scripts/moto.sh "$port" .local/moto-bench.pid .local/moto-bench.log
trap 'kill "$(cat .local/moto-bench.pid)" 2>/dev/null || true' EXIT INT TERM
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset TWILIO_ACCOUNT_SID TWILIO_CONVERSATIONS_BASE_URL TWILIO_API_BASE_URL || true
profile=(--release)
[ "${PROFILE:-release}" = debug ] && profile=()
RUST_LOG="${RUST_LOG:-warn}" cargo run --quiet "${profile[@]}" -p dev --bin pushbench -- "${1:-200}"
