#!/usr/bin/env python3
"""Dev aid: run bench/lambda.py unchanged, but also log every request the
binary sends to the HTTPS stub (method, path, selected headers, body), so
the Rust binary's requests and the Node comparator's can be diffed.

  python3 bench/node/capture.py OUT.jsonl -- <lambda.py arguments>

e.g. python3 bench/node/capture.py /tmp/rust.jsonl -- target/release/send-message \
       events/send-message.json --kind send --replay bench/replay/send-message.json --runs 1 --invocations 3
"""
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("lambda_bench", os.path.join(HERE, "..", "lambda.py"))
lb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lb)

out_path, rest = sys.argv[1], sys.argv[2:]
if rest and rest[0] == "--":
    rest = rest[1:]
out = open(out_path, "w")
orig = lb.replay_key
KEEP = ("content-type", "authorization", "x-amz-target", "user-agent", "accept", "connection", "host")


def logging_key(target, method, path, body):
    handler = sys._getframe(1).f_locals.get("self")
    headers = {k.lower(): v for k, v in handler.headers.items()} if handler is not None else {}
    try:
        parsed = json.loads(body) if body and target else body.decode()
    except ValueError:
        parsed = body.decode(errors="replace")
    out.write(json.dumps({"method": method, "path": path, "target": target,
                          "headers": {k: v for k, v in headers.items() if k in KEEP},
                          "body": parsed}) + "\n")
    out.flush()
    return orig(target, method, path, body)


lb.replay_key = logging_key
orig_check = lb.check


def logging_check(kind, expect, body):
    out.write(json.dumps({"answer": body.decode(errors="replace")}) + "\n")
    out.flush()
    return orig_check(kind, expect, body)


lb.check = logging_check
# CAPTURE_SALT=<12 hex>: the same MessageSids / Idempotency-Keys in both runs.
orig_init = lb.Events.__init__


def fixed_salt_init(self, *a, **kw):
    orig_init(self, *a, **kw)
    self.salt = os.environ.get("CAPTURE_SALT") or self.salt


lb.Events.__init__ = fixed_salt_init
sys.argv = ["lambda.py", *rest]
lb.main()
