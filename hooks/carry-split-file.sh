#!/usr/bin/env bash
# Copier migration for a release that split a generated file into a package of several modules:
#
#   carry-split-file.sh [--note TEXT] OLD NEWDIR [OLD NEWDIR ...]
#
# (paths in the project; run at the "after" stage). By then `copier update` has written the new
# template's NEWDIR and deleted OLD. No one new file holds OLD's code, so no 3-way merge can
# carry the team's edits of it; this script keeps them instead, as a unified diff from the old
# template's OLD (the base, from the template's git history at $VERSION_FROM, which copier sets)
# to the team's OLD (from the project's last commit; copier refuses to update a project with
# uncommitted changes), written to NEWDIR/<OLD, its slashes as dashes>.your-edits.patch. It
# prints one line naming the patch, and TEXT after it (where the team's settings went, say).
# An OLD the team never edited leaves nothing.
#
# Offline and idempotent: it reads only the two git repositories, writes nothing but the patch,
# and never writes over a file already at the patch's path.
set -euo pipefail

usage="usage: carry-split-file.sh [--note TEXT] OLD NEWDIR [OLD NEWDIR ...]"
note=""
if [ "${1:-}" = "--note" ]; then
    note=${2:?"carry-split-file.sh: --note takes a text; $usage"}
    shift 2
fi
script=carry-split-file.sh
# shellcheck source=hooks/migration-setup.sh
source "$(dirname "$0")/migration-setup.sh" "$@"

# Keeps the team's edits of $1 (OLD) as a patch in $2 (NEWDIR); returns 1 only when it cannot run.
keep_edits() {
    local old=$1 newdir=${2%/}
    if [ ! -d "$template_root/$subdirectory/$newdir" ]; then
        echo "carry-split-file.sh: $subdirectory/$newdir is not a folder of the template" >&2
        return 1
    fi
    # Nothing to keep: the project had no OLD (never generated, or deleted by the team).
    git cat-file -e "HEAD:./$old" 2>/dev/null || return 0

    git show "HEAD:./$old" >"$work/ours"
    local from=${VERSION_FROM:?copier sets it}
    if ! git -C "$template_root" show "$from:$subdirectory/$old" >"$work/base" 2>/dev/null; then
        # No plain base (OLD was a .jinja template then): the patch holds the whole file.
        : >"$work/base"
    fi
    # The team never edited OLD: the new package is all there is to have.
    if cmp -s "$work/ours" "$work/base"; then
        return 0
    fi

    local patch
    patch="$newdir/$(printf '%s' "$old" | tr / -).your-edits.patch"
    {
        echo "Your edits of $old, kept by the update from $from to ${VERSION_TO:-the new release}."
        echo "That release split $old into the package $newdir/, one module per concern"
        echo "(its __init__.py says which holds what), so no merge could carry them. Below: the"
        echo "template's $old at $from (a/) against your last commit's (b/). Bring each change you"
        echo "still want into the module that now holds that code, then delete this file."
        echo
        local status=0
        diff -u --label "a/$old" --label "b/$old" "$work/base" "$work/ours" || status=$?
        if [ "$status" -gt 1 ]; then
            echo "carry-split-file.sh: diff failed on $old" >&2
            return 1
        fi
    } >"$work/patch"
    if [ -e "$patch" ]; then
        # A second run, or a file of the team's at that path: leave it as it is.
        cmp -s "$patch" "$work/patch" ||
            echo "carry-split-file.sh: $patch already exists, so your edits of $old are not" \
                "written there; your last version of $old is still in git: git show HEAD:$old" >&2
        return 0
    fi
    mkdir -p "$newdir"
    cp "$work/patch" "$patch"
    echo "Kept your edits of $old as $patch (its code is now in $newdir/)${note:+; $note}."
}

while [ $# -gt 0 ]; do
    keep_edits "$1" "$2"
    shift 2
done
