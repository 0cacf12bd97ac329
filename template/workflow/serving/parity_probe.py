"""One half of the train/serve parity check (workflow.serving.parity): runs each SavedModel's
`serving_default` on the instances in whichever TensorFlow runs this file, and writes the outputs
as JSON. The check runs it once in the training TensorFlow and once in the serving image's.

    python parity_probe.py --instances data/instances.json --out outputs.json MODEL_DIR [...]

Standard library and TensorFlow only, run as a file: the serving TensorFlow's virtualenv has
nothing else, not even this project's packages.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys

# Longest error message kept per model: TensorFlow's can run to pages.
ERROR_CHARACTERS = 2000


def _tensor(tf, spec, values: list):
    """One input of the signature: a missing value is "" for a string, NaN for a number, as the
    trainer reads an empty CSV field."""
    if spec.dtype == tf.string:
        return tf.constant(["" if value is None else value for value in values], tf.string)
    return tf.constant([math.nan if value is None else value for value in values], spec.dtype)


def _plain(value):
    """A tensor's `tolist()` as JSON values: strings come out of TensorFlow as bytes."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def serve(tf, model_dir: str, instances: list) -> dict:
    """The outputs of `serving_default` on `instances`, by output name."""
    model = tf.saved_model.load(model_dir)  # kept: the signature needs the loaded object alive
    signature = model.signatures["serving_default"]
    _, specs = signature.structured_input_signature
    inputs = {
        name: _tensor(tf, spec, [instance.get(name) for instance in instances])
        for name, spec in specs.items()
    }
    outputs = signature(**inputs)
    return {name: _plain(tensor.numpy().tolist()) for name, tensor in outputs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", required=True, help="one JSON object a line")
    parser.add_argument("--out", required=True, help="where to write the outputs (JSON)")
    parser.add_argument("model_dirs", nargs="+", metavar="MODEL_DIR")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # noqa: PLC0415 -- after the log level, which TensorFlow reads on import

    with open(args.instances, encoding="utf-8-sig") as f:
        instances = [json.loads(line) for line in f if line.strip()]
    models = {}
    for model_dir in args.model_dirs:
        try:
            models[model_dir] = {"outputs": serve(tf, model_dir, instances)}
        except Exception as err:  # any failure is the finding to report
            models[model_dir] = {"error": f"{type(err).__name__}: {err}"[:ERROR_CHARACTERS]}
    result = {
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
        "instances": len(instances),
        "models": models,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
