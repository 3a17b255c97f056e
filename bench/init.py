#!/usr/bin/env python3
"""Cold-start benchmark of a function binary, without AWS.

Plays the Lambda Runtime API on loopback, starts the binary N times and
measures, per start: the time from exec until the binary asks for its first
event (GET .../invocation/next: init done), the time until it answered one
real invocation (the first request), and the process RSS after that.

Usage: bench/init.py BINARY EVENT_JSON [RUNS]
The binary needs its usual environment (TABLE_NAME, AUTH_JWT_SECRET,
TWILIO_*, AWS_* for the emulator); see BENCHMARKS.md.
"""
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time

binary, event_path = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 20
event = open(event_path, "rb").read()

state = {}
lock = threading.Condition()


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):  # next invocation
        with lock:
            n = state.setdefault("next_calls", 0)
            state["next_calls"] = n + 1
            if n == 0:
                state["init_done"] = time.perf_counter()
                lock.notify_all()
            else:
                state["second_next"] = time.perf_counter()
                lock.notify_all()
                # Park the runtime until we kill it.
                lock.wait(timeout=10)
                return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
        self.send_header("Content-Length", str(len(event)))
        self.end_headers()
        self.wfile.write(event)

    def do_POST(self):  # response or error
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with lock:
            state["response_at"] = time.perf_counter()
            state["response"] = body
            state["path"] = self.path
            lock.notify_all()
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
threading.Thread(target=server.serve_forever, daemon=True).start()
env = dict(os.environ)
env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{server.server_address[1]}"
env.setdefault("AWS_LAMBDA_FUNCTION_NAME", "bench")
env.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
env.setdefault("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
env.setdefault("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
env.setdefault("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
env.setdefault("RUST_LOG", "warn")

inits, firsts, rss = [], [], []
for i in range(runs):
    with lock:
        state.clear()
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with lock:
        lock.wait_for(lambda: "init_done" in state, timeout=10)
        lock.wait_for(lambda: "second_next" in state, timeout=10)
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss.append(int(line.split()[1]) / 1024)
    except FileNotFoundError:
        pass
    proc.kill()
    proc.wait()
    with lock:
        lock.notify_all()
    if "init_done" not in state or "response_at" not in state:
        sys.exit(f"run {i}: the binary did not complete an invocation")
    if i == 0:
        status = json.loads(state["response"] or b"{}").get("statusCode")
        print(f"first response: {state['path']} statusCode={status}", file=sys.stderr)
    inits.append((state["init_done"] - start) * 1000)
    firsts.append((state["response_at"] - start) * 1000)


def fmt(xs):
    return f"median {statistics.median(xs):7.2f}  p90 {sorted(xs)[int(len(xs) * 0.9) - 1]:7.2f}  min {min(xs):7.2f}"


print(f"{os.path.basename(binary)} ({runs} cold starts)")
print(f"  init (exec -> first /next)          ms: {fmt(inits)}")
print(f"  first request done (exec -> reply) ms: {fmt(firsts)}")
if rss:
    print(f"  RSS after first request           MB: median {statistics.median(rss):.1f}  max {max(rss):.1f}")
