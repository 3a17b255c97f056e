#!/usr/bin/env python3
"""The BENCHMARKS.md table of one `bench/lambda.sh` output directory: per
benchmark, the medians over runs of the free-core file and, in brackets,
of the quota (7.2 %) file.
Usage: bench/table.py DIR [LABEL...]   (default: every *-free.json in DIR)
"""
import json
import os
import statistics
import sys

NAMES = {
    "webhook-ingest": "webhook-ingest, secret in env",
    "webhook-ingest-secrets": "webhook-ingest, deployed",
    "process-inbound": "process-inbound, one stored message",
    "send-message": "send-message, secrets in env",
    "send-message-secrets": "send-message, deployed",
}


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def span(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return (min(vals), max(vals)) if vals else None


def us(v):
    if v is None:
        return "—"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:,.0f} µs"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    labels = sys.argv[2:] or sorted(f[:-10] for f in os.listdir(d) if f.endswith("-free.json"))
    print("| median | init CPU | first-invocation CPU | warm CPU | rejected CPU | cold start at 7.2 % (min–max) | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for label in labels:
        free = json.load(open(os.path.join(d, f"{label}-free.json")))["runs"]
        qpath = os.path.join(d, f"{label}-quota.json")
        quota = json.load(open(qpath))["runs"] if os.path.exists(qpath) else []

        def both(key):
            f = us(med(free, key))
            return f"{f} (7.2 %: {us(med(quota, key))})" if quota and med(quota, key) is not None else f

        cold = "—"
        if quota:
            lo, hi = span(quota, "cold_wall_ms")
            cold = f"{med(quota, 'cold_wall_ms'):.1f} ms ({lo:.1f}–{hi:.1f})"
        rss = med(free, "rss_peak_mb")
        print(f"| {NAMES.get(label, label)} | {both('init_cpu_us')} | {both('first_cpu_us')} | "
              f"{both('warm_cpu_us')} | {both('rejected_cpu_us')} | {cold} | {rss:.1f} MB |")


if __name__ == "__main__":
    main()
