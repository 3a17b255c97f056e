#!/usr/bin/env python3
"""Interleaved A/B runs of bench/lambda.py, for changes smaller than the
noise between separate runs on a shared machine.

Usage: bench/ab.py ROUNDS LABEL=BINARY[:VAR=VALUE,...] ... [-- lambda.py args]

Each round runs every variant once (`--runs 1`), in alternating order, and
the medians over rounds of each run's init, first-invocation, warm and
rejected CPU are printed with their ranges. The default lambda.py arguments
are webhook-ingest's (`events/webhook-ingest-messaging.json --kind ingest
--tamper-every 10 --invocations 400`); give others after `--`.

  bench/ab.py 12 before=.local/bench/a/webhook-ingest after=target/release/webhook-ingest
  bench/ab.py 12 info=target/release/webhook-ingest warn=target/release/webhook-ingest:RUST_LOG=warn
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rounds, rest = int(sys.argv[1]), sys.argv[2:]
    extra = []
    if "--" in rest:
        i = rest.index("--")
        rest, extra = rest[:i], rest[i + 1:]
    variants = []
    for v in rest:
        label, spec = v.split("=", 1)
        env = {}
        if ":" in spec:
            spec, envs = spec.split(":", 1)
            env = dict(e.split("=", 1) for e in envs.split(","))
        variants.append((label, spec, env))
    args = extra or [os.path.join(HERE, "..", "events", "webhook-ingest-messaging.json"), "--kind", "ingest",
                     "--tamper-every", "10", "--invocations", "400"]
    keys = [("init", "init_cpu_us"), ("first", "first_cpu_us"), ("warm", "warm_cpu_us"), ("rejected", "rejected_cpu_us"),
            ("cold_ms", "cold_wall_ms"), ("from_exec", "cold_exec_ms"), ("throttled", "cold_throttled")]
    res = {label: {k: [] for k, _ in keys} for label, _, _ in variants}
    for r in range(rounds):
        for label, binary, env in (variants if r % 2 == 0 else variants[::-1]):
            with tempfile.NamedTemporaryFile(suffix=".json") as f:
                penv = dict(os.environ)
                penv.update(env)
                p = subprocess.run([sys.executable, os.path.join(HERE, "lambda.py"), binary, *args, "--runs", "1",
                                    "--json", f.name], env=penv, capture_output=True, text=True)
                if p.returncode:
                    sys.exit(f"{label}: lambda.py failed\n{p.stdout[-800:]}\n{p.stderr[-800:]}")
                run = json.load(open(f.name))["runs"][0]
            for k, field in keys:
                if run[field] is not None:
                    res[label][k].append(run[field])
    print(f"median over {rounds} interleaved runs (min-max), CPU in us, cold start (init + first, wall) in ms "
          f"from fork and from exec; throttled: cold starts that waited for the next quota period")
    for label, d in res.items():
        cols = []
        for k, _ in keys:
            xs = d[k]
            if k == "throttled":
                # How many cold starts waited for the next quota period.
                cols.append(f"throttled {sum(1 for x in xs if x)}/{len(xs)}" if xs else "throttled -")
                continue
            f = ".1f" if k in ("cold_ms", "from_exec") else ".0f"
            cols.append(f"{k} {statistics.median(xs):6{f}} ({min(xs):{f}}-{max(xs):{f}})" if xs else f"{k} -")
        print(f"{label:14s} " + "  ".join(cols))


if __name__ == "__main__":
    main()
