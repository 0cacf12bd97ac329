#!/usr/bin/env bash
# The template's test command, the same on a fresh machine and in CI: makes .venv from
# tests/requirements.txt, then runs pytest. Arguments go to pytest.
#
# A fresh clone's .venv links to a virtualenv kept in the tests' cache (TEST_CACHE in
# tests/conftest.py), made once per Python and content of the requirements files, so that a clone
# does not install TensorFlow again; a changed pin makes a new one. A .venv of your own is used
# as it is. Cached virtualenvs unused for 14 days are removed.
set -euo pipefail
cd "$(dirname "$0")/.."
pip_install=(-m pip install --quiet --disable-pip-version-check -r tests/requirements.txt)

if [ ! -e .venv ]; then
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/copier-cloud-trainer-tests"
    key=$({ python3 --version && cat tests/requirements.txt template/requirements*.txt; } |
        sha256sum | cut -c1-12)
    venv="$cache/venv-$key"
    mkdir -p "$cache"
    (
        flock 9 # one run makes it; another waits, then uses it
        if [ ! -f "$venv/made" ]; then
            rm -rf "$venv"
            python3 -m venv "$venv"
            "$venv/bin/python" "${pip_install[@]}"
        fi
        touch "$venv/made"
        find "$cache" -maxdepth 2 -path "$cache/venv-*/made" -mtime +14 -printf '%h\n' |
            xargs -r rm -rf
    ) 9>"$venv.lock"
    ln -s "$venv" .venv
fi
# A no-op when .venv already holds every pin; it installs what a changed file adds.
.venv/bin/python "${pip_install[@]}"
exec .venv/bin/python -m pytest tests "$@"
