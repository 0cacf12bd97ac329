#!/usr/bin/env bash
# Runs the trainer on Vertex AI with a scale-tier preset:
#   scripts/submit.sh [TIER] [--dry-run] [--container custom|prebuilt] [-- TRAINER_ARGS...]
# TIER: a preset of config/tiers.yaml (any case); default: config/cloud.yaml's default_tier.
# The work (preflight, packaging, the job spec) is in workflow/cloud/submit.py; --help lists it all.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m workflow.cloud.submit "$@"
