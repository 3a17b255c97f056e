#!/usr/bin/env bash
# Load run on the local stack: N signed webhooks (C contacts, each delivered
# D times) sent concurrently; waits until all are stored; fails if any is
# lost or stored twice. Usage: scripts/load.sh [N] [C] [D]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
mkdir -p .local
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
scripts/moto.sh "$port" .local/moto-load.pid .local/moto-load.log
trap 'kill "$(cat .local/moto-load.pid)" 2>/dev/null || true' EXIT INT TERM
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset TWILIO_ACCOUNT_SID TWILIO_CONVERSATIONS_BASE_URL TWILIO_API_BASE_URL || true
RUST_LOG="${RUST_LOG:-warn}" cargo run --quiet -p dev --bin loadgen -- "${1:-500}" "${2:-50}" "${3:-2}"
