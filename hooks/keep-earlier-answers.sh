#!/usr/bin/env bash
# A migration's `before` step: gives a project made before a release the answers of the questions
# that the release adds, with the values that keep the project working as it did, so that the
# update changes nothing it trains until the team opts in (`copier update --data KEY=VALUE`).
# A question the project has already answered keeps its answer. Copier reads the answers file
# again after the `before` migrations, so the update renders with these.
#   usage: keep-earlier-answers.sh ANSWERS_FILE KEY=VALUE [KEY=VALUE ...]
set -euo pipefail
usage="usage: keep-earlier-answers.sh ANSWERS_FILE KEY=VALUE [KEY=VALUE ...]"
if [ $# -lt 2 ]; then
    echo "keep-earlier-answers.sh: expected an answers file and answers; $usage" >&2
    exit 2
fi
answers_file=$1
shift
if [ ! -f "$answers_file" ]; then
    echo "keep-earlier-answers.sh: no answers file $answers_file; $usage" >&2
    exit 2
fi
kept=()
for pair in "$@"; do
    key=${pair%%=*}
    value=${pair#*=}
    if [ "$key" = "$pair" ] || [ -z "$key" ]; then
        echo "keep-earlier-answers.sh: '$pair' is not KEY=VALUE; $usage" >&2
        exit 2
    fi
    if ! grep -q "^$key:" "$answers_file"; then
        printf '%s: %s\n' "$key" "$value" >>"$answers_file"
        kept+=("$key=$value")
    fi
done
if [ ${#kept[@]} -gt 0 ]; then
    echo "This release's new options are off in this project, as it trained before: ${kept[*]}" \
        "(turn one on with: copier update --trust --defaults --data KEY=VALUE)."
fi
