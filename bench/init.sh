#!/usr/bin/env bash
# Cold-start benchmark of the release binaries against the local stack:
# init time (exec → first /next), first request done, RSS.
# Usage: bench/init.sh [RUNS] [BINARY...]   (after `make build-release`)
#   BIN_DIR=target/opt-s/release bench/init.sh 30 unread-count   (another build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"
shift || true
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(unread-count webhook-ingest)
bin_dir="${BIN_DIR:-target/release}"
mkdir -p .local
export PORT="${PORT:-3400}" TWILIO_STANDIN_PORT="${TWILIO_STANDIN_PORT:-3401}" MOTO_PORT="${MOTO_PORT:-4680}" DEMO=0
scripts/run.sh > .local/bench-stack.log 2>&1 &
stack=$!
stop() {
  pkill -f "target/debug/local" 2>/dev/null || true
  pkill -f "moto_server.py -H 127.0.0.1 -p $MOTO_PORT" 2>/dev/null || true
  kill "$stack" 2>/dev/null || true
}
trap stop EXIT
for _ in $(seq 1 600); do
  python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break
  sleep 0.5
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export TABLE_NAME=messaging-local AUTH_JWT_SECRET=local-dev-secret-change-me-0123456789
export TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000 TWILIO_AUTH_TOKEN=dev-auth-token
export TWILIO_CONVERSATIONS_BASE_URL="http://127.0.0.1:$TWILIO_STANDIN_PORT" TWILIO_API_BASE_URL="http://127.0.0.1:$TWILIO_STANDIN_PORT"
export PUBLIC_BASE_URL="http://127.0.0.1:3000" QUEUE_URL="$AWS_ENDPOINT_URL/123456789012/messaging-local-InboundQueue"
for b in "${bins[@]}"; do
  event="events/$b.json"
  [ -f "$event" ] || event="events/$b-messaging.json"
  ls -l "$bin_dir/$b" | awk '{printf "%s: %.2f MB\n", $9, $5/1048576}'
  python3 bench/init.py "$bin_dir/$b" "$event" "$runs"
done
