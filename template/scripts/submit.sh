#!/usr/bin/env bash
# Runs the trainer on Vertex AI with a scale-tier preset (config/tiers.yaml):
#   scripts/submit.sh [TIER] [--dry-run] [--container custom|prebuilt] [-- TRAINER_ARGS...]
# TIER: BASIC, STANDARD_1, PREMIUM_1, BASIC_GPU, BASIC_TPU or CUSTOM (any case).
# The work (preflight, packaging, the job spec) is in workflow/cloud/submit.py; --help lists it all.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m workflow.cloud.submit "$@"
