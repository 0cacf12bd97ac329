#!/usr/bin/env bash
# Is a newer release of the copier template out? `make check-update` runs this, locally and in CI.
# Up to date: exit 0. Newer release: a warning and exit 0, or exit 1 when
# TEMPLATE_UPDATE_POLICY=fail. The check itself failing (the template unreachable): exit 1.
# COPIER names the copier executable (default: copier on PATH).
# With --source-only, it checks only that _src_path leads to the template (no network), and says
# so as a warning: `make schema` prints a `copier update` line that needs it.
set -euo pipefail
source_only=$([ "${1:-}" = --source-only ] && echo yes || echo no)

copier=${COPIER:-copier}
policy=${TEMPLATE_UPDATE_POLICY:-warn}
case "$policy" in
    warn | fail) ;;
    *)
        echo "TEMPLATE_UPDATE_POLICY must be warn or fail, not '$policy'" >&2
        exit 1
        ;;
esac
# Copier reads _src_path from the folder it runs in, the project: a local path must lead to the
# template's git repository from here, or update and check-update only say "Updating is only
# supported in git-tracked templates".
source=$(sed -n "s/^_src_path: *['\"]\{0,1\}\([^'\"]*\)['\"]\{0,1\} *$/\1/p" .copier-answers.yml)
case "$source" in
    *://* | git@* | gh:* | gl:* | *.git | *.git/) ;; # a git URL: copier clones it
    *)
        path=${source/#\~/$HOME}
        if [ ! -f "$path" ] && { [ ! -d "$path" ] ||
            [ "$(git -C "$path" rev-parse --show-toplevel 2>/dev/null)" != "$(cd "$path" && pwd -P)" ]; }; then
            level=$([ "$source_only" = yes ] && echo warning || echo error)
            echo "$level: .copier-answers.yml's _src_path '$source' does not lead to the template's git" \
                "repository from this project (copier reads a relative path from the folder it runs in)," \
                "so copier update cannot find the template: set _src_path to the template's git URL or" \
                "to the absolute path of its git clone, commit, and run make check-update again" \
                "(docs/updating.md)" >&2
            exit 1
        fi
        ;;
esac
[ "$source_only" = no ] || exit 0

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
