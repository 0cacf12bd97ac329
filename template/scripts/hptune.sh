#!/usr/bin/env bash
# Runs a hyperparameter tuning job on Vertex AI: the study in config/hptuning.yaml, each trial
# on a scale tier's worker pools (BASIC unless given):
#   scripts/hptune.sh [TIER] [--dry-run] [-- TRAINER_ARGS...]
# It uploads and checks exactly as scripts/submit.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
tier=BASIC
if [[ $# -gt 0 && $1 != -* ]]; then
    tier=$1
    shift
fi
exec "${PYTHON:-.venv/bin/python}" -m workflow.cloud.submit "$tier" --tune "$@"
