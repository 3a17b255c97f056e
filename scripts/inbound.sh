#!/usr/bin/env bash
# make inbound FROM=whatsapp:+15551234567 BODY="hi" [TO=whatsapp:+15550001111]:
# ask the running Twilio stand-in (make run) to send a signed inbound
# WhatsApp/SMS webhook to the local gateway, as Twilio would.
set -euo pipefail
port="${TWILIO_STANDIN_PORT:-3001}"
from="${FROM:-whatsapp:+15551234567}"
to="${TO:-whatsapp:+15550001111}"
body="${BODY:-Hello from WhatsApp}"
python3 - "$port" "$from" "$to" "$body" <<'PY'
import sys, urllib.parse, urllib.request
port, frm, to, body = sys.argv[1:5]
data = urllib.parse.urlencode({"from": frm, "to": to, "body": body}).encode()
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_standin/inbound", data, timeout=10) as r:
        print(r.read().decode())
except OSError as e:
    sys.exit(f"could not reach the Twilio stand-in on port {port} ({e}); is `make run` running?")
PY
