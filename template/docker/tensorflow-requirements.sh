#!/usr/bin/env bash
# Prints requirements.txt with its TensorFlow line swapped for the build that an accelerator
# needs, so that the pins live in requirements.txt alone: cpu and gpu at the pinned version; tpu
# as requirements.txt's `# tpu:` line says (tensorflow-tpu may lag TensorFlow: see there).
#   usage: docker/tensorflow-requirements.sh cpu|gpu|tpu [requirements.txt]
set -euo pipefail
variant="${1:?usage: tensorflow-requirements.sh cpu|gpu|tpu [requirements.txt]}"
file="${2:-requirements.txt}"

version="$(sed -n 's/^tensorflow-cpu==\([0-9][0-9a-z.]*\).*/\1/p' "$file")"
if [ -z "$version" ]; then
    echo "error: $file has no 'tensorflow-cpu==VERSION' line to take the version from" >&2
    exit 1
fi
case "$variant" in
    cpu) grep -v -E '^tensorflow(-cpu)?==' "$file" && echo "tensorflow-cpu==$version" ;;
    gpu) grep -v -E '^tensorflow(-cpu)?==' "$file" && echo "tensorflow[and-cuda]==$version" ;;
    tpu)
        tpu="$(sed -n 's/^# tpu: *//p' "$file")"
        if [ -z "$tpu" ]; then
            echo "error: $file has no '# tpu: tensorflow-tpu==VERSION tensorboard==VERSION' line" >&2
            exit 1
        fi
        echo "--find-links https://storage.googleapis.com/libtpu-tf-releases/index.html"
        grep -v -E '^(tensorflow(-cpu)?|tensorboard)==' "$file"
        tr -s ' ' '\n' <<<"$tpu"
        ;;
    *)
        echo "error: unknown variant '$variant': use cpu, gpu or tpu" >&2
        exit 1
        ;;
esac
