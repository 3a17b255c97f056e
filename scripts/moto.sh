#!/usr/bin/env bash
# Start moto's server (DynamoDB + SQS) on a port and wait until it answers.
# DynamoDB requests are handled one at a time (see scripts/moto_server.py).
# Usage: scripts/moto.sh PORT PIDFILE LOGFILE
set -euo pipefail
cd "$(dirname "$0")/.."
port="$1"; pidfile="$2"; log="$3"
scripts/venv.sh
.venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
echo $! >"$pidfile"
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "http://127.0.0.1:$port/moto-api/" 2>/dev/null; then
    exit 0
  fi
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "moto server exited; see $log" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "moto server did not start on port $port; see $log" >&2
exit 1
