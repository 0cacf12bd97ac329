#!/usr/bin/env bash
# Copier task, run once in a freshly copied project: start a git repository so that
# `copier update` can later merge template changes with the team's own edits.
# Offline and idempotent: does nothing when git is missing or a repository already exists.
set -euo pipefail

command -v git >/dev/null || exit 0
git rev-parse --is-inside-work-tree >/dev/null 2>&1 && exit 0
git init --quiet
echo "Initialized a git repository; commit the generated files before your first edit."
