"""Scores an exported model on CSV files, local or gs:// (make evaluate):

    python -m workflow.evaluate MODEL_DIR --eval-files F [F ...] [--output FILE]

The files are read by the trainer's own input pipeline (trainer.inputs), checked as training
checks its evaluation files, and the model answers through its `serving_default` signature, the
one that `make predict` and Vertex AI serve. The metrics are training's, under the same names as
in its metrics.json (classification: loss and accuracy; regression: loss, rmse and
mean_absolute_error), computed over every row with a label. They are printed, and written as
JSON to --output (`make evaluate`: JOB_DIR/evaluation.json, beside metrics.json).

A gate before deploying can rely on the exit status: 0 once the model is scored; 1, with one
`error:` line, when it cannot be: no model, a file that lacks a declared column or holds a bad
value, a label class the model does not know.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import sys

import numpy as np
import tensorflow as tf

from trainer import inputs
from trainer.csv_reader import DataError
from trainer.features import SCHEMA
from trainer.schema import Schema

SIGNATURE = "serving_default"
# Keras' cross-entropy takes the logits that its Softmax output carries, unclipped: a row whose
# class has probability 1e-9 costs -log(1e-9). Only a probability that float32 rounds to 0 is
# raised, to float32's smallest normal number, so that the loss stays finite.
SMALLEST_PROBABILITY = float(np.finfo(np.float32).tiny)


class EvaluationError(Exception):
    """The model cannot be scored; the message says why and what to do."""


def load_signature(model_dir: str):
    """The model's loaded SavedModel and its serving signature, once both are there."""
    try:
        if not tf.io.gfile.exists(posixpath.join(model_dir, "saved_model.pb")):
            raise EvaluationError(
                f"{model_dir}: no exported model here; run `make train` first (or "
                "`make fetch JOB=ID` for a cloud job's, then JOB_DIR=outputs/ID)"
            )
        loaded = tf.saved_model.load(model_dir)
    except tf.errors.OpError as err:
        raise EvaluationError(str(inputs.unreadable(model_dir, err))) from None
    if SIGNATURE not in loaded.signatures:
        raise EvaluationError(f"{model_dir}: the model has no {SIGNATURE} signature to serve")
    return loaded, loaded.signatures[SIGNATURE]


def check_signature(serve, schema: Schema, model_dir: str) -> None:
    """The signature takes this project's features and returns what its task needs."""
    _, specs = serve.structured_input_signature
    takes = {name: spec.dtype for name, spec in specs.items()}
    declared = {name: tf.as_dtype(kind.dtype) for name, kind in schema.feature_kinds.items()}
    if takes != declared:
        raise EvaluationError(
            f"{model_dir}: the model takes {', '.join(sorted(takes))}, but this project's "
            f"schema (trainer/features.py) declares {', '.join(sorted(declared))}: evaluate it "
            "where it was trained, or train it again"
        )
    output = "probabilities" if schema.is_classification else "predictions"
    if output not in serve.structured_outputs:
        raise EvaluationError(
            f"{model_dir}: the model returns {', '.join(sorted(serve.structured_outputs))}, not "
            f"{output}: it was not trained for this project's {schema.task_type} task"
        )


def model_classes(serve, files: list[str], schema: Schema) -> list[str]:
    """A classifier's labels, in the order of its probabilities: the constant its signature
    gathers `classes` from. Among several such constants, the one its outputs agree with."""
    width = serve.structured_outputs["probabilities"].shape[-1]
    candidates = [
        [value.decode() for value in captured.numpy()]
        for captured in serve.captured_inputs
        if captured.dtype == tf.string and captured.shape.as_list() == [width]
    ]
    if len(candidates) > 1:
        probe = inputs.make_dataset(files, schema, candidates[0], 256, False)
        for features, _ in probe.take(1):
            outputs = serve(**features)
            candidates = [c for c in candidates if _agree(outputs, c)]
    if len(candidates) != 1:
        raise EvaluationError(
            "cannot tell the model's classes from its export: evaluate a model that "
            "`make train` exported"
        )
    return candidates[0]


def _agree(outputs: dict, classes: list[str]) -> bool:
    """Each row's class is the label of its most probable column."""
    most_probable = np.take(classes, outputs["probabilities"].numpy().argmax(axis=-1))
    return most_probable.tolist() == outputs["classes"].numpy().astype(str).tolist()


def evaluate(model_dir: str, eval_files: list[str], batch_size: int = 512) -> tuple[dict, int]:
    """The model's metrics on the files, as training reports them, and the rows scored."""
    _loaded, serve = load_signature(model_dir)  # the signature needs it kept alive
    check_signature(serve, SCHEMA, model_dir)
    files = inputs.expand_files(eval_files)
    classes = model_classes(serve, files, SCHEMA) if SCHEMA.is_classification else []
    # Every value checked, and the labels against the model's classes, as training's eval files.
    inputs.scan(files, SCHEMA, known_classes=classes or None)
    rows, sums = 0, {"loss": 0.0, "correct": 0.0, "absolute": 0.0}
    for features, label_batch in inputs.make_dataset(files, SCHEMA, classes, batch_size, False):
        outputs = serve(**features)
        labels = label_batch.numpy()
        rows += len(labels)
        if SCHEMA.is_classification:
            if not _agree(outputs, classes):
                raise EvaluationError(f"{model_dir}: the model's classes are not {classes}")
            probabilities = outputs["probabilities"].numpy().astype("float64")
            probabilities /= probabilities.sum(axis=-1, keepdims=True)
            chosen = probabilities[np.arange(len(labels)), labels]
            chosen = np.maximum(chosen, SMALLEST_PROBABILITY)
            sums["loss"] -= np.log(chosen).sum()
            sums["correct"] += (probabilities.argmax(axis=-1) == labels).sum()
        else:
            error = outputs["predictions"].numpy().astype("float64") - labels
            sums["loss"] += (error**2).sum()
            sums["absolute"] += np.abs(error).sum()
    if rows == 0:
        raise EvaluationError(
            f"{', '.join(files)}: no row with a '{SCHEMA.label}' value to score the model on"
        )
    loss = sums["loss"] / rows
    if SCHEMA.is_classification:
        metrics = {"accuracy": sums["correct"] / rows, "loss": loss}
    else:
        metrics = {"loss": loss, "mean_absolute_error": sums["absolute"] / rows, "rmse": loss**0.5}
    return {name: float(value) for name, value in metrics.items()}, rows


def write_json(metrics: dict, path: str) -> None:
    """The metrics as training writes metrics.json, to a local or gs:// path."""
    if posixpath.dirname(path):
        tf.io.gfile.makedirs(posixpath.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(metrics, f, indent=2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.evaluate",
        description="Score an exported model on CSV files with training's metrics.",
    )
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="the export: JOB_DIR/model")
    parser.add_argument(
        "--eval-files", nargs="+", required=True, help="CSV files or patterns, local or gs://"
    )
    parser.add_argument("--output", help="where the metrics go as JSON (default: nowhere)")
    parser.add_argument("--batch-size", type=int, default=512, help="rows per serving call")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    model_dir = args.model_dir.rstrip("/")
    try:
        metrics, rows = evaluate(model_dir, args.eval_files, args.batch_size)
    except (EvaluationError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except tf.errors.OpError as err:  # a file that became unreadable while it was read
        print(
            f"error: {model_dir}: scoring failed ({' '.join(err.message.split())})", file=sys.stderr
        )
        return 1
    if args.output:
        try:
            write_json(metrics, args.output)
        except tf.errors.OpError as err:
            print(f"error: {args.output}: cannot write it ({err.message})", file=sys.stderr)
            return 1
    print(f"{model_dir} on {' '.join(args.eval_files)} ({rows} rows):")
    width = max(map(len, metrics))
    for name, value in metrics.items():
        print(f"  {name:<{width}}  {value:.6g}")
    if args.output:
        print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
