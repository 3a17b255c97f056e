#!/usr/bin/env bash
# Lambda-like benchmark (bench/lambda.py) of webhook-ingest and
# process-inbound release binaries: free core, then 7.2 % of a core
# (cgroup v1 cpu.cfs_quota_us=7200 over cpu.cfs_period_us=100000).
# Usage: bench/lambda.sh [BIN_DIR]   (default target/release; after `make build-release`)
#   RUNS=7 INVOCATIONS=500 QRUNS=3 QINVOCATIONS=50 IDLE_MS=150 FUNCTIONS="webhook-ingest process-inbound"
# process-inbound needs DynamoDB: moto and the table come from the local
# stack (scripts/run.sh), reached over TLS through the stub.
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir="${1:-target/release}"
runs="${RUNS:-7}" inv="${INVOCATIONS:-500}" qruns="${QRUNS:-3}" qinv="${QINVOCATIONS:-50}" idle="${IDLE_MS:-150}"
functions="${FUNCTIONS:-webhook-ingest process-inbound}"
out="${OUT:-.local/bench/lambda-$(date -u +%Y%m%dT%H%M%S)}"
mkdir -p "$out"
quota_args=()
if [ -w /sys/fs/cgroup/cpu ]; then
  quota_args=(--quota 7200)
else
  echo "no writable cgroup v1 cpu controller: quota runs skipped (free-core figures only)" >&2
fi
stack=""
stop() { [ -n "$stack" ] && kill -- "-$stack" 2>/dev/null || true; }
trap stop EXIT
if [[ " $functions " == *" process-inbound "* ]]; then
  export PORT="${PORT:-3410}" TWILIO_STANDIN_PORT="${TWILIO_STANDIN_PORT:-3411}" MOTO_PORT="${MOTO_PORT:-4690}" DEMO=0
  setsid scripts/run.sh >"$out/stack.log" 2>&1 &
  stack=$!
  for _ in $(seq 1 600); do
    python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break
    sleep 0.5
  done
fi
for f in $functions; do
  bin="$bin_dir/$f"
  case "$f" in
    webhook-ingest) args=(--kind ingest --tamper-every 10 "events/webhook-ingest-messaging.json") ;;
    process-inbound) args=(--kind inbound --upstream "http://127.0.0.1:$MOTO_PORT" "events/process-inbound.json") ;;
    *) echo "no benchmark for $f" >&2; continue ;;
  esac
  ls -l "$bin" | awk '{printf "%s: %.2f MB\n", $9, $5/1048576}'
  python3 bench/lambda.py "$bin" "${args[@]}" --runs "$runs" --invocations "$inv" --json "$out/$f-free.json"
  if [ ${#quota_args[@]} -gt 0 ]; then
    python3 bench/lambda.py "$bin" "${args[@]}" --runs "$qruns" --invocations "$qinv" --idle-ms "$idle" \
      "${quota_args[@]}" --json "$out/$f-quota.json"
  fi
done
