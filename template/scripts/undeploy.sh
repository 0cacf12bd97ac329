#!/usr/bin/env bash
# Stops paying for serving: undeploys every model from the project's Vertex AI endpoint (the
# models stay in the Model Registry); --delete-endpoint deletes the endpoint too:
#   scripts/undeploy.sh [--delete-endpoint] [--dry-run]
# The work is in workflow/serving/undeploy.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m workflow undeploy "$@"
