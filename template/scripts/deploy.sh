#!/usr/bin/env bash
# Serves a trained model on Vertex AI: a new version of the project's model in the Model
# Registry, deployed to the project's endpoint with all of the traffic, replacing the version
# that served before:
#   scripts/deploy.sh --job JOB_ID | --model-dir gs://BUCKET/.../model [--dry-run]
# The image, machines and names are in config/serving.yaml; the work is in
# workflow/serving/deploy.py; --help lists the options.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m workflow deploy "$@"
