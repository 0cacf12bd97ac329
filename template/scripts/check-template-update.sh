#!/usr/bin/env bash
# Is a newer release of the copier template out? `make check-update` runs this, locally and in CI.
# Up to date: exit 0. Newer release: a warning and exit 0, or exit 1 when
# TEMPLATE_UPDATE_POLICY=fail. The check itself failing (the template unreachable): exit 1.
# COPIER names the copier executable (default: copier on PATH).
set -euo pipefail

copier=${COPIER:-copier}
policy=${TEMPLATE_UPDATE_POLICY:-warn}
case "$policy" in
    warn | fail) ;;
    *)
        echo "TEMPLATE_UPDATE_POLICY must be warn or fail, not '$policy'" >&2
        exit 1
        ;;
esac
if ! command -v "$copier" >/dev/null; then
    echo "copier not found ('$copier'): run make install, or pass COPIER=..." >&2
    exit 1
fi

status=0
"$copier" check-update --quiet || status=$?
case "$status" in
    0)
        echo "Up to date with the template."
        ;;
    2)
        current=$(sed -n 's/^_commit: //p' .copier-answers.yml)
        message="A newer release of the template is out (this project is at $current)."
        message+=" Update with: copier update --trust --defaults (README: Updating your project)."
        if [ -n "${GITHUB_ACTIONS:-}" ]; then # an annotation on the workflow run
            level=$([ "$policy" = warn ] && echo warning || echo error)
            echo "::$level title=Template update::$message"
        fi
        echo "$message" >&2
        [ "$policy" = warn ] || exit 1
        ;;
    *)
        echo "copier check-update failed: can this machine clone the template at _src_path in" \
            ".copier-answers.yml?" >&2
        exit 1
        ;;
esac
