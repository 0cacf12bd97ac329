"""`make predict`: the real `gcloud ai-platform local predict`, run with this venv's Python:

    python -m workflow.serving.local_predict --model-dir DIR --json-instances FILE

gcloud's output and exit status are its own, less one line that every export draws:
`WARNING:root:Error updating signature __saved_model_init_op: The name 'NoOp' refers to an
Operation, not a Tensor`. TensorFlow 2 lists the op that initializes a SavedModel's tables among
its signatures, as `__saved_model_init_op`; gcloud's TensorFlow 1 loader checks every signature's
tensors, fails on that one (an op has no tensor), logs it and drops it from the signatures it
serves. It is not a serving signature, so nothing is lost.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from workflow.cloud import gcloud

HARMLESS = "Error updating signature __saved_model_init_op:"


def predict(model_dir: str, instances: str) -> int:
    """Runs gcloud's local prediction; returns its exit status."""
    command = ["ai-platform", "local", "predict", "--model-dir", model_dir]
    command += ["--json-instances", instances]
    print(f"$ {shlex.join(['gcloud', *command])}", file=sys.stderr, flush=True)
    # gcloud runs `python` from PATH: this one, whose venv has TensorFlow.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    process = subprocess.Popen(
        [gcloud.executable(), *command],
        env={**os.environ, "PATH": path},
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stderr:
        if HARMLESS not in line:
            sys.stderr.write(line)
    return process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.serving.local_predict",
        description="gcloud ai-platform local predict, less its one harmless warning.",
    )
    parser.add_argument("--model-dir", required=True, help="the export: JOB_DIR/model")
    parser.add_argument("--json-instances", required=True, help="one JSON instance a line")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return predict(args.model_dir, args.json_instances)
    except gcloud.GcloudError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
