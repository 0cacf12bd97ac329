# shellcheck shell=bash disable=SC2034,SC2154 # sets variables for, and reads them from, its caller
# Sourced by the migration scripts (carry-renamed-file.sh, carry-split-file.sh) after their own
# options: checks that the paths come in pairs, and sets template_root, subdirectory (copier.yml's
# _subdirectory) and work, a temporary folder removed when the script exits.
#   usage: script=NAME usage="..." source migration-setup.sh "$@"
if [ $# -eq 0 ] || [ $(($# % 2)) -ne 0 ]; then
    echo "$script: expected pairs of paths, got $# argument(s); $usage" >&2
    exit 2
fi
template_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
subdirectory=template
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
