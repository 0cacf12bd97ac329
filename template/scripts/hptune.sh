#!/usr/bin/env bash
# Runs a hyperparameter tuning job on Vertex AI: the study in config/hptuning.yaml, each trial
# on a scale-tier preset of config/tiers.yaml:
#   scripts/hptune.sh [TIER] [--dry-run] [--spot | --flex-start [--max-wait DURATION]]
#       [--timeout DURATION] [--wait] [-- TRAINER_ARGS...]
# TIER: any case; default: config/cloud.yaml's default_tier, as for scripts/submit.sh.
# It uploads and checks exactly as scripts/submit.sh does; --help lists its options.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m workflow hptune "$@"
