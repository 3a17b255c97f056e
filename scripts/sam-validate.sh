#!/usr/bin/env bash
# Validate template.yaml with the SAM CLI (installed into .venv-sam on first
# use). If the SAM CLI cannot be installed here, say so and skip.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-sam/bin/sam ]; then
  echo "installing the AWS SAM CLI into .venv-sam (first run only)"
  if ! { python3 -m venv .venv-sam && .venv-sam/bin/pip install --quiet --disable-pip-version-check aws-sam-cli; }; then
    echo "SKIPPED: the AWS SAM CLI could not be installed; template.yaml was not validated" >&2
    exit 0
  fi
fi
SAM_CLI_TELEMETRY=0 AWS_REGION="${AWS_REGION:-us-east-1}" .venv-sam/bin/sam validate --lint --template template.yaml --region "${AWS_REGION:-us-east-1}"
