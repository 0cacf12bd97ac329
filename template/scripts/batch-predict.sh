#!/usr/bin/env bash
# Predicts JSON Lines files in Cloud Storage with the newest version of the project's model in
# the Model Registry (scripts/deploy.sh uploads it), in a Vertex AI batch prediction job:
#   scripts/batch-predict.sh --input gs://BUCKET/.../*.jsonl [--output gs://BUCKET/...] [--dry-run]
# The machines are in config/serving.yaml (batch); the work is in workflow/serving/batch.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m workflow batch-predict "$@"
