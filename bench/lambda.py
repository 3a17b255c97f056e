#!/usr/bin/env python3
"""Lambda-like benchmark of one function binary: cold start and CPU per
invocation, behind a fake Runtime API, with AWS over HTTPS to a local stub.

What it does, per run:
  * starts a stub HTTPS endpoint on localhost (a self-signed certificate made
    once in .local/bench/, trusted by the binary through SSL_CERT_FILE; the
    system directory /etc/ssl/certs is passed as SSL_CERT_DIR so a binary that
    loads the platform store still loads all of it). The stub answers SQS
    SendMessage itself (AWS JSON protocol, with the MD5 the SDK checks) and
    forwards every other request to --upstream (moto over plain HTTP) when
    given, so DynamoDB is real but reached over TLS;
  * plays the Lambda Runtime API on loopback and hands the binary --invocations
    events, one at a time; with --idle-ms, each event waits that long after
    the previous answer (sparse traffic, as a quota'd Lambda sees it);
  * both send each answer in one write, head and body together, as Lambda's
    Runtime API (a Go net/http server, which buffers an answer and flushes
    it once) and AWS's endpoints do for small answers; --split-writes sends
    the head and the body in two writes, as rounds 1-15 measured (a client
    can then wake twice for one answer);
  * puts the process in its own cgroup v1: cpuacct (CPU in ns, all threads)
    and, with --quota, cpu.cfs_quota_us/cpu.cfs_period_us (7200/100000 is
    7.2 % of a core, Lambda's share at 128 MB); pins it to one core (--cpu).
    A small /bin/sh, spawned with vfork, joins the cgroups and execs the
    binary (--launch sh, the default), so the exec counted in init replaces
    the shell, not a forked copy of this harness (--launch fork, rounds 1-11);
  * init CPU = the cgroup's CPU when the binary first asks for an event;
    first-invocation CPU = CPU between that and the next ask (the answer,
    its log line, everything); warm CPU = the same for every later event.
    Wall times: fork -> first ask (init), first event handed -> answer.
    Cold start = fork -> first answer; also from exec (the harness's spawn
    and the launcher's steps, moving the child into its cgroups, left out)
    and, with --quota, whether the cgroup was
    throttled by the end of the first invocation (cpu.stat nr_throttled:
    init + first invocation did not fit the quota left in a period, and
    waited for the next one).
  * checks every answer (status code; for webhook-ingest one SendMessage
    per signed webhook with its MessageSid and none for a tampered one).

Event kinds (--kind):
  ingest        webhook-ingest: a signed WhatsApp webhook with a fresh
                MessageSid each time; every --tamper-every'th one has a
                tampered body (must be 403 and not enqueued).
  inbound       process-inbound: an SQS batch of one envelope with a fresh
                MessageSid (needs --upstream with the table; DEFAULT_ORG_ID).
  send          send-message: the sample event with a fresh Idempotency-Key.
  raw           the event file as it is, every time.

Without a writable cgroup v1 cpuacct the CPU comes from
/proc/PID/task/*/sched (se.sum_exec_runtime), and --quota is refused.

Output: one line per run, then medians over runs; --json FILE writes all.
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import queue
import re
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

# shared::secrets::SECRET_SETTINGS
SECRET_SETTINGS = ["AUTH_JWT_SECRET", "TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN_SECONDARY", "TWILIO_API_KEY_SECRET",
                   "BOOKINGS_KEY", "META_APP_SECRET", "META_APP_SECRET_SECONDARY", "META_VERIFY_TOKEN"]
# What template.yaml gives each benchmarked function as <SETTING>_ARN.
DEPLOYED_SECRETS = {"ingest": ["TWILIO_AUTH_TOKEN"], "send": ["AUTH_JWT_SECRET", "TWILIO_AUTH_TOKEN"], "inbound": []}
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CG_CPU = "/sys/fs/cgroup/cpu"
CG_ACCT = "/sys/fs/cgroup/cpuacct"
# How the stub and the fake Runtime API write an answer: buffered (the head
# and the body in one write, as Lambda's Runtime API, a Go net/http server,
# and AWS's endpoints send a small answer) unless --split-writes (one write
# for the head and one for the body, how rounds 1-15 measured).
WBUFSIZE = 1 << 16


def template_global(name):
    """The value template.yaml's Globals give every function as `name`."""
    with open(os.path.join(ROOT, "template.yaml")) as fh:
        globals_part = fh.read().split("\nResources:", 1)[0]
    m = re.search(rf"^\s+{re.escape(name)}:\s*(\S+)\s*$", globals_part, re.M)
    return m.group(1) if m else None


# ---------------------------------------------------------------- TLS stub
def make_cert(dirpath, kind="ec"):
    """The stub's self-signed certificate: ECDSA P-256 (`ec`, what earlier
    rounds used) or RSA 2048 (`rsa`, what AWS endpoints and Twilio's API
    present, whose verification costs the client far less)."""
    os.makedirs(dirpath, exist_ok=True)
    suffix = "" if kind == "ec" else "-rsa"
    cert, key = os.path.join(dirpath, f"stub{suffix}.pem"), os.path.join(dirpath, f"stub{suffix}.key")
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "ec" else ["-newkey", "rsa:2048"]
    if not (os.path.exists(cert) and os.path.exists(key)):
        subprocess.run(
            ["openssl", "req", "-x509", *newkey,
             "-nodes", "-keyout", key, "-out", cert, "-days", "3650", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-addext", "basicConstraints=critical,CA:FALSE"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class Stub:
    """HTTPS endpoint: SQS SendMessage answered here, the rest forwarded."""

    def __init__(self, cert, key, upstream, twilio_upstream=None, replay=None, record=False, rtt_ms=0.0):
        self.sent = []  # SendMessage bodies
        self.requests = {}  # X-Amz-Target -> count
        self.secrets = {}  # Secrets Manager: ARN -> SecretString
        self.lock = threading.Lock()
        stub = self
        up = urllib.parse.urlparse(upstream) if upstream else None
        tw = urllib.parse.urlparse(twilio_upstream) if twilio_upstream else None
        self.replay = replay  # recorded answers (replay_key -> answer), or None: forward
        self.record = {} if record else None
        self.unanswered = []  # replay keys with no recorded answer
        local = threading.local()

        rtt = rtt_ms / 1e3

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            wbufsize = WBUFSIZE

            def setup(self):
                # A new connection: with --rtt-ms, the TCP and TLS round
                # trips first; the handshake runs in this connection's own
                # thread, so connections opened together proceed together.
                if rtt:
                    time.sleep(2 * rtt)
                self.request.do_handshake()
                super().setup()

            def parse_request(self):
                # Each request waits one round trip before it is answered.
                if rtt:
                    time.sleep(rtt)
                return super().parse_request()

            def log_message(self, *a):
                pass

            def _answer(self, status, body, ctype="application/x-amz-json-1.0", headers=()):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                target = self.headers.get("X-Amz-Target", "")
                with stub.lock:
                    stub.requests[target] = stub.requests.get(target, 0) + 1
                if target == "secretsmanager.GetSecretValue":
                    sid = json.loads(body)["SecretId"]
                    value = stub.secrets.get(sid)
                    if value is None:
                        return self._answer(400, json.dumps({
                            "__type": "ResourceNotFoundException",
                            "message": "Secrets Manager can't find the specified secret."}).encode(),
                            "application/x-amz-json-1.1")
                    name = sid.rsplit(":", 1)[-1]
                    out = {"ARN": sid, "Name": name, "SecretString": value,
                           "VersionId": "00000000-0000-0000-0000-000000000001",
                           "VersionStages": ["AWSCURRENT"], "CreatedDate": 1767225600.0}
                    return self._answer(200, json.dumps(out).encode(), "application/x-amz-json-1.1")
                if target == "secretsmanager.BatchGetSecretValue":
                    values, errors = [], []
                    for sid in json.loads(body).get("SecretIdList", []):
                        value = stub.secrets.get(sid)
                        if value is None:
                            errors.append({"SecretId": sid, "ErrorCode": "ResourceNotFoundException",
                                           "Message": "Secrets Manager can't find the specified secret."})
                            continue
                        values.append({"ARN": sid, "Name": sid.rsplit(":", 1)[-1], "SecretString": value,
                                       "VersionId": "00000000-0000-0000-0000-000000000001",
                                       "VersionStages": ["AWSCURRENT"], "CreatedDate": 1767225600.0})
                    out = {"SecretValues": values, "Errors": errors}
                    return self._answer(200, json.dumps(out).encode(), "application/x-amz-json-1.1")
                if target == "AmazonSQS.SendMessage":
                    msg = json.loads(body)["MessageBody"]
                    with stub.lock:
                        stub.sent.append(msg)
                    out = {"MD5OfMessageBody": hashlib.md5(msg.encode()).hexdigest(),
                           "MessageId": str(uuid.uuid4())}
                    return self._answer(200, json.dumps(out).encode())
                if not target and self.command == "GET" and self.path == "/":
                    # The functions' connection warm-up at init (an unsigned GET /).
                    return self._answer(404, b"<UnknownOperationException/>", "text/xml")
                key = replay_key(target, self.command, self.path, body)
                if stub.replay is not None:
                    got = stub.replay.get(key) or stub.replay.get(key.split(" ", 1)[0] if target else key)
                    if got is None:
                        with stub.lock:
                            stub.unanswered.append(key)
                        return self._answer(400, json.dumps({"__type": "BenchNotRecorded", "message": key}).encode())
                    return self._answer(got["status"], got["body"].encode(), got["ctype"], got["headers"])
                u = up if target else tw
                if u is None:
                    return self._answer(400, b'{"__type":"UnknownOperation"}')
                conns = local.__dict__.setdefault("conns", {})
                conn = conns.get(u.netloc)
                if conn is None:
                    conn = conns[u.netloc] = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                headers["Host"] = f"{u.hostname}:{u.port}"
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                except (http.client.HTTPException, OSError):
                    conn.close()
                    conn = conns[u.netloc] = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                data = resp.read()
                extra = [(k, v) for k, v in resp.getheaders()
                         if k.lower() not in ("content-length", "content-type", "connection",
                                              "transfer-encoding", "date", "server", "x-amzn-requestid")]
                ctype = resp.getheader("Content-Type", "application/json")
                if stub.record is not None and 200 <= resp.status < 300:
                    entry = {"status": resp.status, "ctype": ctype, "headers": extra,
                             "body": data.decode()}
                    with stub.lock:
                        stub.record[key] = entry
                        if target:  # the last answer of this operation, whatever its key
                            stub.record[target] = entry
                self._answer(resp.status, data, ctype, extra)

            do_POST = do_GET = do_PUT = do_DELETE = _any

        class Server(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6
            daemon_threads = True

            def server_bind(self):
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                super().server_bind()

        self.server = Server(("::", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def replay_key(target, method, path, body):
    """What a recorded answer is looked up by: an AWS operation with the item
    key (GetItem) or the key condition values (Query) it asks for, so one
    table's items stay apart; a Twilio request by method and path."""
    if not target:
        return f"{method} {path.split('?', 1)[0]}"
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        return target
    which = req.get("Key") or req.get("ExpressionAttributeValues") or req.get("RequestItems")
    return target if which is None else f"{target} {json.dumps(which, sort_keys=True)}"


# ------------------------------------------------------ fake Runtime API
class RuntimeApi:
    def __init__(self):
        self.events = queue.Queue()  # (request_id, bytes) handed to the next ask
        self.asks = queue.Queue()  # time of each GET .../next
        self.answers = queue.Queue()  # (request_id, path, body, time)
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            wbufsize = WBUFSIZE

            def log_message(self, *a):
                pass

            def do_GET(self):
                api.asks.put(time.perf_counter())
                item = api.events.get()
                if item is None:  # the end: leave the runtime waiting
                    time.sleep(30)
                    return
                rid, body = item
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:123456789012:function:bench")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                t = time.perf_counter()
                parts = self.path.split("/")
                rid = parts[-2] if len(parts) >= 2 else ""
                api.answers.put((rid, self.path, body, t))
                self.send_response(202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


# ------------------------------------------------------------------ events
def twilio_sign(token, url, params):
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


class Events:
    def __init__(self, kind, path, env, tamper_every):
        self.kind, self.env, self.tamper_every = kind, env, tamper_every
        self.base = json.load(open(path))
        # Fresh per run, and always starting with "f": an inbound message's id
        # is made from its MessageSid, and with the recorded conversation's
        # timestamp equal to the event's, the id decides whether the message
        # is newer than the conversation's last one (and so updates its
        # last-message fields, five more attributes in the transaction). A
        # fully random salt made that a coin toss per run (up to round 16:
        # process-inbound's two instruction counts ~7 % apart); every
        # message is now the newest, as a live conversation's next one is.
        self.salt = "f" + uuid.uuid4().hex[:11]
        if kind == "ingest":
            raw = self.base["body"]
            if self.base.get("isBase64Encoded"):
                raw = base64.b64decode(raw).decode()
            self.params = urllib.parse.parse_qsl(raw, keep_blank_values=True)

    def make(self, i):
        """(event bytes, what to check)"""
        e = json.loads(json.dumps(self.base))
        if self.kind == "ingest":
            sid = f"SM{self.salt}{i:020d}"
            params = [(k, sid if k in ("MessageSid", "SmsSid", "SmsMessageSid") else v) for k, v in self.params]
            url = self.env["PUBLIC_BASE_URL"].rstrip("/") + e["rawPath"]
            sig = twilio_sign(self.env["TWILIO_AUTH_TOKEN"], url, params)
            tampered = self.tamper_every > 0 and i % self.tamper_every == self.tamper_every - 1
            if tampered:
                params = [(k, v + "!" if k == "Body" else v) for k, v in params]
            body = urllib.parse.urlencode(params)
            e["body"] = base64.b64encode(body.encode()).decode()
            e["isBase64Encoded"] = True
            e["headers"]["content-length"] = str(len(body))
            e["headers"]["x-twilio-signature"] = sig
            e["headers"]["i-twilio-idempotency-token"] = "MQ" + sid[2:]
            e["requestContext"]["requestId"] = f"bench-{i}"
            return json.dumps(e).encode(), {"status": 403 if tampered else 200, "sid": sid, "tampered": tampered}
        if self.kind == "inbound":
            rec = e["Records"][0]
            env = json.loads(rec["body"])
            sid = f"SM{self.salt}{i:020d}"
            env["params"] = [[k, sid if k in ("MessageSid", "SmsSid", "SmsMessageSid") else v] for k, v in env["params"]]
            env["idempotency_token"] = "MQ" + sid[2:]
            rec["body"] = json.dumps(env)
            rec["messageId"] = str(uuid.uuid4())
            rec["md5OfBody"] = hashlib.md5(rec["body"].encode()).hexdigest()
            e["Records"] = [rec]
            return json.dumps(e).encode(), {"failures": 0}
        if self.kind == "send":
            e["headers"]["idempotency-key"] = f"bench-{self.salt}-{i}"
            return json.dumps(e).encode(), {"status": (200, 201)}
        return json.dumps(e).encode(), {}


def check(kind, expect, body):
    r = json.loads(body or b"{}")
    if kind in ("ingest", "send", "raw") and "statusCode" in r:
        want = expect.get("status")
        if want is not None:
            ok = r["statusCode"] in want if isinstance(want, tuple) else r["statusCode"] == want
            if not ok:
                return f"statusCode {r['statusCode']} != {want}: {str(r)[:300]}"
        if kind == "ingest" and not expect["tampered"] and "<Response" not in (r.get("body") or ""):
            return f"no TwiML: {r}"
    if kind == "inbound":
        if r.get("batchItemFailures"):
            return f"batch item failures: {r}"
    return None


# ------------------------------------------------------------------- cgroups
class Cgroup:
    def __init__(self, name, quota):
        self.acct = os.path.join(CG_ACCT, name) if os.access(CG_ACCT, os.W_OK) else None
        self.cpu = os.path.join(CG_CPU, name) if quota and os.access(CG_CPU, os.W_OK) else None
        if quota and not self.cpu:
            sys.exit("--quota needs a writable cgroup v1 cpu controller (/sys/fs/cgroup/cpu)")
        for d in (self.acct, self.cpu):
            if d:
                os.makedirs(d, exist_ok=True)
        if self.cpu:
            with open(os.path.join(self.cpu, "cpu.cfs_period_us"), "w") as f:
                f.write("100000")
            with open(os.path.join(self.cpu, "cpu.cfs_quota_us"), "w") as f:
                f.write(str(quota))
        # The first process moved into a new cgroup pays a one-time cost
        # (measured here: ~7 ms for cpuacct, ~16 ms for cpu; later moves
        # ~0.1 ms). A stand-in pays it now, so that the binary's cold start
        # (timed from fork) does not include it. Rounds 1-10 of
        # BENCHMARKS.md were measured without this.
        dirs = [d for d in (self.acct, self.cpu) if d]
        if dirs:
            standin = subprocess.Popen(["sleep", "30"])
            for d in dirs:
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    f.write(str(standin.pid))
            standin.kill()
            standin.wait()
        if self.acct:
            with open(os.path.join(self.acct, "cpuacct.usage"), "w") as f:
                f.write("0")
        self.pid = None

    def cpu_ns(self):
        if self.acct:
            with open(os.path.join(self.acct, "cpuacct.usage")) as f:
                return int(f.read())
        total = 0.0
        for t in os.listdir(f"/proc/{self.pid}/task"):
            try:
                for line in open(f"/proc/{self.pid}/task/{t}/sched"):
                    if line.startswith("se.sum_exec_runtime"):
                        total += float(line.split(":")[1])
            except OSError:
                pass
        return int(total * 1e6)

    def throttled(self):
        """(periods throttled, ns throttled) so far, with --quota."""
        if not self.cpu:
            return None, None
        stat = dict(line.split() for line in open(os.path.join(self.cpu, "cpu.stat")))
        return int(stat["nr_throttled"]), int(stat["throttled_time"])

    def sys_us(self):
        """Kernel share of the CPU so far (cpuacct.stat, in ticks -> us)."""
        if not self.acct:
            return None
        for line in open(os.path.join(self.acct, "cpuacct.stat")):
            if line.startswith("system"):
                return int(line.split()[1]) * 1e6 / os.sysconf("SC_CLK_TCK")
        return None

    def remove(self):
        for d in (self.acct, self.cpu):
            if d:
                for _ in range(50):
                    try:
                        os.rmdir(d)
                        break
                    except OSError:
                        time.sleep(0.02)


# --------------------------------------------------------------------- run
def one_run(args, env, events, stub, run_no):
    api = RuntimeApi()
    penv = dict(env)
    penv["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{api.port}"
    cg = Cgroup(f"lambda-bench-{os.getpid()}-{run_no}", args.quota)
    # The child is pinned and joins its cgroups right before exec: all of
    # init is counted, from exec on. The pipe tells when that exec came.
    procs = [os.path.join(d, "cgroup.procs") for d in (cg.acct, cg.cpu) if d]
    exec_r, exec_w = os.pipe()
    sent_before = len(stub.sent)
    start = time.perf_counter()
    out = subprocess.DEVNULL if not args.show_logs else None
    if args.launch == "fork":
        def pre():
            if args.cpu is not None:
                os.sched_setaffinity(0, {args.cpu})
            for p in procs:
                with open(p, "w") as f:
                    f.write(str(os.getpid()))
            os.write(exec_w, struct.pack("d", time.perf_counter()))

        proc = subprocess.Popen([args.binary], env=penv, preexec_fn=pre, stdout=out, stderr=out)
        os.close(exec_w)
        t_exec = struct.unpack("d", os.read(exec_r, 8))[0]
    else:
        # A small shell joins the cgroups and execs the binary: Popen can
        # then vfork, and the exec that is counted replaces the shell, not
        # a copy of this large Python process (whose teardown no Lambda
        # runtime process pays). The shell's stdin is the pipe's write end,
        # replaced by /dev/null right before exec.
        script = 'for p; do [ "$p" = -- ] && break; echo $$ > "$p"; shift; done; shift; exec 0</dev/null; exec "$@"'
        affinity = os.sched_getaffinity(0)
        if args.cpu is not None:
            os.sched_setaffinity(0, {args.cpu})  # this thread only; the child inherits it
        try:
            proc = subprocess.Popen(["/bin/sh", "-c", script, "sh", *procs, "--", args.binary],
                                    env=penv, stdin=exec_w, stdout=out, stderr=out)
        finally:
            os.sched_setaffinity(0, affinity)
        os.close(exec_w)
        os.read(exec_r, 1)  # EOF: the shell let it go, next is exec
        t_exec = time.perf_counter()
    os.close(exec_r)
    cg.pid = proc.pid
    # Init wall counts from before fork: on a loaded machine this thread may
    # get the CPU back from Popen only after the binary's first request.
    try:
        t_ask = api.asks.get(timeout=30)
    except queue.Empty:
        proc.kill()
        sys.exit("the binary never asked for an event (init failed?)")
    init_wall = (t_ask - start) * 1e3
    cpu_prev = cg.cpu_ns()
    init_cpu = cpu_prev / 1e3
    init_sys, init_minflt = cg.sys_us(), minflt(proc.pid)
    ctx_init = ctx_switches(proc.pid)
    cpus, walls, errors, expects = [], [], [], []
    first_minflt = None
    throttled = (None, None)
    for i in range(args.invocations):
        if args.idle_ms:
            time.sleep(args.idle_ms / 1e3)
        body, expect = events.make(run_no * 100000 + i)
        expects.append(expect)
        rid = f"req-{run_no}-{i}"
        t0 = time.perf_counter()
        api.events.put((rid, body))
        try:
            got_rid, path, answer, t1 = api.answers.get(timeout=30)
            api.asks.get(timeout=30)
        except queue.Empty:
            proc.kill()
            sys.exit(f"run {run_no} invocation {i}: no answer")
        cpu = cg.cpu_ns()
        if i == 0:
            first_minflt = minflt(proc.pid)
            throttled = cg.throttled()
        cpus.append((cpu - cpu_prev) / 1e3)
        cpu_prev = cpu
        walls.append((t1 - t0) * 1e3)
        if not path.endswith("/response"):
            errors.append(f"invocation {i}: {path} {answer[:300]!r}")
        else:
            why = check(args.kind, expect, answer)
            if why:
                errors.append(f"invocation {i}: {why}")
    ctx_end, threads = ctx_switches(proc.pid), len(os.listdir(f"/proc/{proc.pid}/task"))
    hwm = 0.0
    try:
        for line in open(f"/proc/{proc.pid}/status"):
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    except OSError:
        pass
    if args.term:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    else:
        proc.kill()
    proc.wait()
    api.events.put(None)
    api.server.shutdown()
    cg.remove()
    if args.kind == "ingest":
        sent = stub.sent[sent_before:]
        sids = [json.loads(m) for m in sent]
        sids = [next(v for k, v in m["params"] if k == "MessageSid") for m in sids]
        want = [e["sid"] for e in expects if not e["tampered"]]
        bad = [e["sid"] for e in expects if e["tampered"]]
        if sorted(sids) != sorted(want):
            errors.append(f"SendMessage: {len(sids)} sent, {len(want)} expected (or other MessageSids)")
        if set(sids) & set(bad):
            errors.append("a tampered webhook was enqueued")
    rejected = [c for c, e in zip(cpus, expects) if e.get("tampered")]
    accepted = [c for c, e in zip(cpus, expects) if not e.get("tampered")]
    return {
        "init_wall_ms": init_wall, "init_cpu_us": init_cpu,
        "init_sys_us": init_sys, "init_page_faults": init_minflt,
        "first_wall_ms": walls[0], "first_cpu_us": cpus[0],
        "first_page_faults": None if first_minflt is None or init_minflt is None else first_minflt - init_minflt,
        "cold_wall_ms": init_wall + walls[0],
        # The idle time before the first event is not part of it, as above.
        "cold_exec_ms": (t_ask - t_exec) * 1e3 + walls[0],
        "cold_throttled": throttled[0],
        "cold_throttled_ms": None if throttled[1] is None else throttled[1] / 1e6,
        "warm_cpu_us": statistics.median(accepted[1:]) if len(accepted) > 1 else None,
        "warm_cpu_p10_us": pct(accepted[1:], 10), "warm_cpu_p90_us": pct(accepted[1:], 90),
        "rejected_cpu_us": statistics.median(rejected) if rejected else None,
        "warm_wall_ms": statistics.median(walls[1:]) if len(walls) > 1 else None,
        "rss_peak_mb": hwm, "errors": errors, "threads": threads,
        "ctx_switches_per_invocation": (ctx_end - ctx_init) / max(1, args.invocations),
    }


def ctx_switches(pid):
    """Context switches of every thread so far (voluntary + involuntary)."""
    n = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            for line in open(f"/proc/{pid}/task/{t}/status"):
                if "ctxt_switches" in line:
                    n += int(line.split()[1])
        except OSError:
            pass
    return n


def minflt(pid):
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[7])
    except (OSError, IndexError, ValueError):
        return None


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("event")
    ap.add_argument("--kind", default="raw", choices=["ingest", "inbound", "send", "raw"])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--invocations", type=int, default=500)
    ap.add_argument("--idle-ms", type=float, default=0)
    ap.add_argument("--quota", type=int, default=0, help="cpu.cfs_quota_us over a 100000 us period (7200 = 7.2%%)")
    ap.add_argument("--launch", choices=["fork", "sh"], default=os.environ.get("BENCH_LAUNCH") or "sh",
                    help="how the binary is started: sh (default) - a small shell, started with vfork, joins "
                         "the cgroups and execs the binary; fork - this Python process forks, joins the "
                         "cgroups in the child and execs (rounds 1-11: the child's teardown of its copy of this "
                         "process was counted as the binary's init); default: $BENCH_LAUNCH, else sh")
    ap.add_argument("--cpu", type=int, default=1, help="core to pin the binary to (-1: none)")
    ap.add_argument("--tamper-every", type=int, default=0)
    ap.add_argument("--upstream", help="forward non-SQS requests here (e.g. http://127.0.0.1:4566, moto)")
    ap.add_argument("--twilio-upstream", help="forward Twilio requests (no X-Amz-Target) here, e.g. the local "
                    "stack's Twilio stand-in; the binary's Twilio base URLs point at the stub")
    ap.add_argument("--record", help="write the last answer of every forwarded request (by operation and key) here")
    ap.add_argument("--replay", help="answer DynamoDB and Twilio from a --record file (no upstream): the "
                    "binary's own CPU without an emulator behind it")
    ap.add_argument("--split-writes", action="store_true",
                    help="write each answer's head and body in two writes (how rounds 1-15 measured); by default "
                         "the stub and the fake Runtime API send an answer in one write, as Lambda's Runtime API and "
                         "AWS do for small answers")
    ap.add_argument("--rtt-ms", type=float, default=0.0,
                    help="network round trip the HTTPS stub emulates: a new connection waits 2 x RTT (TCP, TLS) "
                         "before its handshake, every request 1 x RTT before it is read (default 0: loopback)")
    ap.add_argument("--json", help="write every run's figures here")
    ap.add_argument("--show-logs", action="store_true")
    ap.add_argument("--term", action="store_true", help="stop the binary with SIGTERM (lets a perf wrapper write its data)")
    ap.add_argument("--label", default="")
    ap.add_argument("--cert-key", choices=["ec", "rsa"], default=os.environ.get("CERT_KEY") or "ec",
                    help="the stub's certificate key: ec (P-256, default, as in earlier rounds) or rsa (2048, "
                         "what AWS endpoints and Twilio present); default: $CERT_KEY, else ec "
                         "(so bench/ab.py can compare both: ec=BIN:CERT_KEY=ec rsa=BIN:CERT_KEY=rsa)")
    ap.add_argument("--secrets-from-arn", action="store_true",
                    help="the deployed configuration: the secret settings template.yaml gives the function as "
                         "<SETTING>_ARN (ingest TWILIO_AUTH_TOKEN; send AUTH_JWT_SECRET and TWILIO_AUTH_TOKEN; "
                         "or --secret-settings) are given as <SETTING>_ARN only, and the stub answers Secrets "
                         "Manager GetSecretValue for them on its own host name (127.0.0.1, so its own "
                         "connection and TLS handshake, as in AWS)")
    ap.add_argument("--secret-settings", metavar="SETTING,...",
                    help="with --secrets-from-arn: these settings instead of the function's deployed ones")
    args = ap.parse_args()
    global WBUFSIZE
    if args.split_writes:
        WBUFSIZE = 0
    if args.cpu is not None and args.cpu < 0:
        args.cpu = None
    cert, key = make_cert(os.path.join(ROOT, ".local", "bench"), args.cert_key)
    replay = None
    if args.replay:
        with open(args.replay) as fh:
            replay = json.load(fh)
    stub = Stub(cert, key, args.upstream, args.twilio_upstream, replay, bool(args.record), args.rtt_ms)
    env = dict(os.environ)
    env.update({
        "AWS_ENDPOINT_URL": f"https://localhost:{stub.port}",
        "SSL_CERT_FILE": cert, "SSL_CERT_DIR": "/etc/ssl/certs",
        "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
    })
    for k, v in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                 "TABLE_NAME": "messaging-local", "AUTH_JWT_SECRET": "local-dev-secret-change-me-0123456789",
                 "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000", "TWILIO_AUTH_TOKEN": "dev-auth-token",
                 "PUBLIC_BASE_URL": "https://abcd123456.execute-api.us-east-1.amazonaws.com",
                 "DEFAULT_ORG_ID": "org_bench"}.items():
        env.setdefault(k, v)
    # As deployed: the glibc tunables template.yaml gives every function
    # (an empty GLIBC_TUNABLES in the environment measures glibc's defaults).
    env.setdefault("GLIBC_TUNABLES", template_global("GLIBC_TUNABLES") or "")
    env.setdefault("TWILIO_CONVERSATIONS_BASE_URL", f"https://localhost:{stub.port}")
    env.setdefault("TWILIO_API_BASE_URL", f"https://localhost:{stub.port}")
    env.setdefault("QUEUE_URL", f"https://localhost:{stub.port}/123456789012/messaging-local-InboundQueue")
    events = Events(args.kind, args.event, env, args.tamper_every)
    if args.secrets_from_arn:
        wanted = args.secret_settings.split(",") if args.secret_settings \
            else DEPLOYED_SECRETS.get(args.kind, [])
        unknown = set(wanted) - set(SECRET_SETTINGS)
        if unknown:
            sys.exit(f"--secrets-from-arn: not secret settings: {sorted(unknown)}")
        penv = dict(env)
        for setting in wanted:
            value = penv.pop(setting, None)
            if value:
                arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:bench/{setting}-AbCdEf"
                stub.secrets[arn] = value
                penv[setting + "_ARN"] = arn
        penv["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = f"https://127.0.0.1:{stub.port}"
        env = penv
    results = []
    for n in range(args.runs):
        res = one_run(args, env, events, stub, n)
        results.append(res)
        f = lambda v, spec: "-" if v is None else format(v, spec)
        print(f"run {n}: init {res['init_wall_ms']:.2f} ms (CPU {res['init_cpu_us']:.0f} us)  "
              f"first {res['first_wall_ms']:.2f} ms (CPU {res['first_cpu_us']:.0f} us)  "
              f"cold {res['cold_wall_ms']:.1f} ms (from exec {f(res['cold_exec_ms'], '.1f')} ms, "
              f"throttled {f(res['cold_throttled'], 'd')})  warm CPU {f(res['warm_cpu_us'], '.0f')} us  "
              f"rejected CPU {f(res['rejected_cpu_us'], '.0f')} us  RSS {res['rss_peak_mb']:.1f} MB"
              + (f"  ERRORS {len(res['errors'])}: {res['errors'][:3]}" if res["errors"] else ""),
              file=sys.stderr, flush=True)
    med = lambda key: statistics.median([r[key] for r in results if r[key] is not None]) if any(r[key] is not None for r in results) else None
    lo = lambda key: min(r[key] for r in results if r[key] is not None) if any(r[key] is not None for r in results) else None
    hi = lambda key: max(r[key] for r in results if r[key] is not None) if any(r[key] is not None for r in results) else None
    q = f"quota {args.quota}/100000" if args.quota else "free core"
    name = args.label or os.path.basename(args.binary)
    print(f"{name} [{args.kind}] {q}, {args.runs} runs x {args.invocations} invocations"
          + (f", {args.idle_ms:g} ms idle before each" if args.idle_ms else ""))
    for key, unit in [("init_wall_ms", "ms"), ("init_cpu_us", "us"), ("init_page_faults", ""), ("first_wall_ms", "ms"), ("first_cpu_us", "us"), ("first_page_faults", ""),
                      ("cold_wall_ms", "ms"), ("cold_exec_ms", "ms"), ("cold_throttled", ""), ("cold_throttled_ms", "ms"),
                      ("warm_cpu_us", "us"), ("rejected_cpu_us", "us"),
                      ("warm_wall_ms", "ms"), ("rss_peak_mb", "MB"), ("ctx_switches_per_invocation", ""),
                      ("threads", "")]:
        m = med(key)
        if m is not None:
            print(f"  {key:16s} median {m:9.2f} {unit}  (min {lo(key):.2f}, max {hi(key):.2f})")
    errs = sum(len(r["errors"]) for r in results)
    print(f"  answers checked: {'all correct' if not errs else f'{errs} WRONG'}; AWS requests {stub.requests}"
          + (" (secrets from Secrets Manager)" if args.secrets_from_arn else ""))
    if stub.unanswered:
        print(f"  NOT RECORDED (answered 400): {sorted(set(stub.unanswered))[:5]}")
        errs += len(stub.unanswered)
    if args.record:
        with open(args.record, "w") as fh:
            json.dump(stub.record, fh, indent=1, sort_keys=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "runs": results}, fh, indent=1)
    sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()
