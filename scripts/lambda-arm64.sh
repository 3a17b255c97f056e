#!/usr/bin/env bash
# arm64 (Graviton, the template's architecture) release builds of every
# function with cargo-lambda (zig as the cross linker), each zipped with
# `zip -9` as Lambda receives it; prints the sizes.
# Installs what it needs: the aarch64-unknown-linux-gnu Rust target and
# cargo-lambda (which brings zig) into .venv from PyPI.
# Usage: scripts/lambda-arm64.sh [FUNCTION...]   (default: every function)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
if [ ! -x .venv/bin/cargo-lambda ]; then
  echo "==> installing cargo-lambda (and zig) into .venv" >&2
  .venv/bin/pip install --quiet --disable-pip-version-check cargo-lambda >&2
fi
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
export PATH="$PWD/.venv/bin:$PATH"
fns=("$@")
[ ${#fns[@]} -gt 0 ] || fns=($(ls functions))
args=()
for f in "${fns[@]}"; do args+=(-p "$f"); done
# Its own target directory: a native build can run beside it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/arm64}"
cargo lambda build --release --arm64 "${args[@]}"
mkdir -p target/lambda-zip
printf '%-24s %10s %10s\n' function bootstrap "zip -9"
for f in "${fns[@]}"; do
  out="$PWD/target/lambda-zip/$f.zip"
  rm -f "$out"
  (cd "$CARGO_TARGET_DIR/lambda/$f" && zip -q -9 -X "$out" bootstrap)
  printf '%-24s %7.2f MB %7.2f MB\n' "$f" \
    "$(echo "$(stat -c %s "$CARGO_TARGET_DIR/lambda/$f/bootstrap") / 1048576" | bc -l)" \
    "$(echo "$(stat -c %s "$out") / 1048576" | bc -l)"
done
