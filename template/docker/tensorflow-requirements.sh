#!/usr/bin/env bash
# Prints requirements.txt with its TensorFlow line swapped for the build that an accelerator
# needs, at the same version, so that the pin lives in requirements.txt alone.
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
    cpu) package="tensorflow-cpu==$version" ;;
    gpu) package="tensorflow[and-cuda]==$version" ;;
    tpu)
        echo "--find-links https://storage.googleapis.com/libtpu-tf-releases/index.html"
        package="tensorflow-tpu==$version"
        ;;
    *)
        echo "error: unknown variant '$variant': use cpu, gpu or tpu" >&2
        exit 1
        ;;
esac
grep -v -E '^tensorflow(-cpu)?==' "$file"
echo "$package"
