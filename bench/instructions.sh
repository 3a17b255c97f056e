#!/bin/sh
# Instructions per warm invocation of one function binary, counted by
# valgrind's cachegrind under bench/lambda.py: the binary is run twice, for
# N1 and N2 invocations, and the difference of the two totals divided by
# N2 - N1 leaves init out. Far steadier than CPU time on a noisy host (runs
# repeat within ~0.3 %; up to round 16 process-inbound landed on one of two
# values 5-7 % apart, decided by lambda.py's random MessageSids: see its
# Events class), so it shows
# changes of a few per cent that interleaved timing cannot; it says nothing
# about system calls or
# cache misses, and under valgrind SHA-256 and SHA-1 run in software (no
# SHA extensions), so hashing weighs more than on the real CPU.
#
# Usage: bench/instructions.sh BINARY N1 N2 [TOP] -- lambda.py arguments
#   e.g. bench/instructions.sh target/release/process-inbound 100 500 -- \
#          events/process-inbound.json --kind inbound --replay bench/replay/process-inbound.json
# With TOP (and a binary built with symbols, see BENCHMARKS.md), also the
# TOP functions by instructions per invocation.
# Needs valgrind (Debian: apt-get install valgrind).
set -eu
BIN=$1 N1=$2 N2=$3
shift 3
TOP=0
if [ "$1" != "--" ]; then TOP=$1; shift; fi
shift
HERE=$(cd "$(dirname "$0")" && pwd)
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/wrap.sh" <<EOF
#!/bin/sh
exec valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="\$CG_OUT" -- "$BIN" "\$@"
EOF
chmod +x "$TMP/wrap.sh"
for n in "$N1" "$N2"; do
    if ! CG_OUT="$TMP/cg.$n" python3 "$HERE/lambda.py" "$TMP/wrap.sh" "$@" --runs 1 --invocations "$n" --term \
        > "$TMP/log.$n" 2>&1; then
        tail -20 "$TMP/log.$n" >&2
        exit 1
    fi
    grep -q "answers checked: all correct" "$TMP/log.$n" || { tail -5 "$TMP/log.$n" >&2; exit 1; }
done
python3 - "$TMP/cg.$N1" "$TMP/cg.$N2" "$N1" "$N2" "$TOP" "$BIN" <<'EOF'
import collections, sys
a_path, b_path, n1, n2, top, binary = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]

def load(path):
    by_fn, fn, total = collections.Counter(), None, 0
    for line in open(path):
        if line.startswith("fn="):
            fn = line[3:].strip()
        elif line.startswith("summary:"):
            total = int(line.split()[1])
        elif line[:1].isdigit() and fn:
            parts = line.split()
            if len(parts) >= 2:
                by_fn[fn] += int(parts[1])
    return total, by_fn

(ta, fa), (tb, fb) = load(a_path), load(b_path)
per = (tb - ta) / (n2 - n1)
print(f"{binary}: {per:,.0f} instructions per warm invocation ({n1} and {n2} invocations: {ta:,} and {tb:,})")
if top:
    diff = sorted(((fb[k] - fa.get(k, 0)) / (n2 - n1), k) for k in fb)
    for v, k in reversed(diff[-top:]):
        print(f"{v:10,.0f} {100 * v / per:5.1f}%  {k[:120]}")
EOF
