#!/usr/bin/env bash
# Runs the trainer on Vertex AI with a scale-tier preset:
#   scripts/submit.sh [TIER] [--dry-run] [--container custom|prebuilt]
#       [--spot | --flex-start [--max-wait DURATION]] [--timeout DURATION] [--wait]
#       [-- TRAINER_ARGS...]
# TIER: a preset of config/tiers.yaml (any case); default: config/cloud.yaml's default_tier.
# It first prints the bound: the most the job can use before its timeout stops it.
# --wait then waits for the job to end and fetches its metrics and model into outputs/<job id>.
# The work (preflight, packaging, the job spec) is in workflow/cloud/submit.py; --help lists it all.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m workflow submit "$@"
