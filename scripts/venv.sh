#!/usr/bin/env bash
# Create .venv with the local AWS emulator (moto's server) if it is missing.
# Idempotent; safe to call from every script.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
MOTO_SPEC="${MOTO_SPEC:-moto[server]==5.2.*}"
if [ ! -x "$VENV/bin/moto_server" ]; then
  echo "==> creating $VENV with $MOTO_SPEC" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$MOTO_SPEC" >&2
fi
