#!/usr/bin/env bash
# Lambda-like benchmark (bench/lambda.py) of function release binaries: free
# core, then 7.2 % of a core (cgroup v1 cpu.cfs_quota_us=7200 over
# cpu.cfs_period_us=100000).
# Usage: bench/lambda.sh [BIN_DIR]   (default target/release; after `make build-release`)
#   RUNS=7 INVOCATIONS=500 QRUNS=3 QINVOCATIONS=50 IDLE_MS=150
#   FUNCTIONS="webhook-ingest process-inbound send-message"
#   CERT_KEY=ec|rsa (the stub's certificate: P-256 as in earlier rounds, or RSA 2048 as AWS and Twilio present)
#   RTT_MS=0 (a network round trip the stub emulates, bench/lambda.py --rtt-ms; 0: loopback)
# webhook-ingest and send-message run twice: secrets in the environment,
# then as deployed (<SETTING>_ARN, read from the stub's Secrets Manager at
# init).
# process-inbound and send-message get DynamoDB (and Twilio) answers
# replayed from bench/replay/*.json (recorded against the local stack with
# `--upstream/--twilio-upstream --record`, see BENCHMARKS.md), so only the
# binary's own CPU is measured, no emulator behind it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir="${1:-target/release}"
runs="${RUNS:-7}" inv="${INVOCATIONS:-500}" qruns="${QRUNS:-3}" qinv="${QINVOCATIONS:-50}" idle="${IDLE_MS:-150}"
functions="${FUNCTIONS:-webhook-ingest process-inbound send-message}"
cert_key="${CERT_KEY:-ec}"
rtt_ms="${RTT_MS:-0}"
out="${OUT:-.local/bench/lambda-$(date -u +%Y%m%dT%H%M%S)}"
mkdir -p "$out"
quota_args=()
if [ -w /sys/fs/cgroup/cpu ]; then
  quota_args=(--quota 7200)
else
  echo "no writable cgroup v1 cpu controller: quota runs skipped (free-core figures only)" >&2
fi
bench() { # name bin args...
  local name="$1" bin="$2"; shift 2
  python3 bench/lambda.py "$bin" "$@" --cert-key "$cert_key" --rtt-ms "$rtt_ms" --runs "$runs" --invocations "$inv" --label "$name" --json "$out/$name-free.json"
  if [ ${#quota_args[@]} -gt 0 ]; then
    python3 bench/lambda.py "$bin" "$@" --cert-key "$cert_key" --rtt-ms "$rtt_ms" --runs "$qruns" --invocations "$qinv" --idle-ms "$idle" \
      "${quota_args[@]}" --label "$name" --json "$out/$name-quota.json"
  fi
}
for f in $functions; do
  bin="$bin_dir/$f"
  ls -l "$bin" | awk '{printf "%s: %.2f MB\n", $9, $5/1048576}'
  case "$f" in
    webhook-ingest)
      bench "$f" "$bin" --kind ingest --tamper-every 10 events/webhook-ingest-messaging.json
      bench "$f-secrets" "$bin" --kind ingest --tamper-every 10 --secrets-from-arn events/webhook-ingest-messaging.json ;;
    process-inbound)
      bench "$f" "$bin" --kind inbound --replay bench/replay/process-inbound.json events/process-inbound.json ;;
    send-message)
      bench "$f" "$bin" --kind send --replay bench/replay/send-message.json events/send-message.json
      bench "$f-secrets" "$bin" --kind send --replay bench/replay/send-message.json --secrets-from-arn events/send-message.json ;;
    *) echo "no benchmark for $f" >&2 ;;
  esac
done
