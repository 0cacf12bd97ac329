#!/usr/bin/env bash
# Copier migration for a release that renamed or moved generated files:
#
#   carry-renamed-file.sh OLD NEW [OLD NEW ...]   (paths in the project; run at the "after" stage)
#
# By then `copier update` has written the new template's NEW and deleted OLD, which would drop
# the team's edits of OLD. This script merges them into NEW the way copier merges any other
# file: a 3-way merge of the team's OLD (from the project's last commit; copier refuses to
# update a project with uncommitted changes), the old template's OLD (the base, from the
# template's git history at $VERSION_FROM, which copier sets) and the new template's NEW.
# Overlapping edits leave the same inline conflict markers as copier's own.
#
# Offline and idempotent: it reads only the two git repositories, and changes NEW only while NEW
# is still exactly the new template's file and the last commit had OLD but not NEW.
# Plain files only: NEW must not be a .jinja template.
set -euo pipefail

usage="usage: carry-renamed-file.sh OLD NEW [OLD NEW ...]"
script=carry-renamed-file.sh
# shellcheck source=hooks/migration-setup.sh
source "$(dirname "$0")/migration-setup.sh" "$@"

# Carries the team's edits of $1 (OLD) into $2 (NEW); returns 1 only when it cannot run.
carry() {
    local old=$1 new=$2
    local new_in_template="$template_root/$subdirectory/$new"
    if [ ! -f "$new_in_template" ]; then
        echo "carry-renamed-file.sh: $subdirectory/$new is not a plain file of the template" >&2
        return 1
    fi
    # Nothing to carry: the project had no OLD (never generated, or deleted by the team).
    git cat-file -e "HEAD:$old" 2>/dev/null || return 0
    if git cat-file -e "HEAD:$new" 2>/dev/null; then
        echo "carry-renamed-file.sh: $new already existed before this update, so copier merged" \
            "it; your last version of $old is still in git: git show HEAD:$old" >&2
        return 0
    fi
    # Already carried (a second run), or NEW is not the file this update wrote.
    if [ ! -f "$new" ] || ! cmp -s "$new" "$new_in_template"; then
        return 0
    fi

    git show "HEAD:$old" >"$work/ours"
    if ! git -C "$template_root" show "${VERSION_FROM:?copier sets it}:$subdirectory/$old" \
        >"$work/base" 2>/dev/null; then
        # No plain base (OLD was a .jinja template then): every edit shows as a conflict, none
        # is lost.
        : >"$work/base"
    fi
    # The team never edited OLD: the new template's NEW is already right.
    if cmp -s "$work/ours" "$work/base"; then
        return 0
    fi
    cp "$new" "$work/theirs"
    local conflicts=0
    git merge-file -L "before updating" -L "last update" -L "after updating" \
        "$work/ours" "$work/base" "$work/theirs" || conflicts=$?
    if [ "$conflicts" -gt 127 ]; then # negative: git merge-file failed
        echo "carry-renamed-file.sh: git merge-file failed on $new" >&2
        return 1
    fi
    cat "$work/ours" >"$new"
    echo "Carried your edits of $old over to $new ($conflicts conflict(s) to resolve)."
}

while [ $# -gt 0 ]; do
    carry "$1" "$2"
    shift 2
done
