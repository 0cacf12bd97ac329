#!/usr/bin/env bash
# The template's test command, the same on a fresh machine and in CI:
# makes .venv from tests/requirements.txt, then runs pytest. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
exec .venv/bin/python -m pytest tests "$@"
