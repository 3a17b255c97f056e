#!/usr/bin/env bash
# make run: everything locally. Installs the emulator on first use, starts
# it (unless AWS_ENDPOINT_URL points at one already), then the local stack.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> web app: http://localhost:${PORT:-3000}/  (ready once the stack below prints its URLs)"
if [ -f .env ]; then set -a; . ./.env; set +a; fi
scripts/venv.sh
mkdir -p .local
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  MOTO_PORT="${MOTO_PORT:-4566}"
  echo "==> starting the DynamoDB/SQS emulator (moto) on 127.0.0.1:$MOTO_PORT"
  scripts/moto.sh "$MOTO_PORT" .local/moto.pid .local/moto.log
  trap 'kill "$(cat .local/moto.pid)" 2>/dev/null || true' EXIT INT TERM
  export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
fi
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
echo "==> building and starting the local stack"
cargo run --quiet -p dev --bin local
