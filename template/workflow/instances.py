"""Checks what `make predict` sends before gcloud sees it: the instances file and the model.

    python -m workflow.instances data/instances.json --model-dir outputs/local/model

The serving signature takes one input per feature, so each line of the file is one JSON object
with every feature's key and a value of its kind (trainer/kinds): a number for a numeric feature
(null when missing), a string for a categorical one, an ISO 8601 string for a datetime one
("" when missing, for both). Anything else reaches TensorFlow inside gcloud, whose errors
("Graph execution error", "Unexpected tensor name: ...") name neither the line nor the key.
This lists every problem, one message each, naming the line and the key, and exits non-zero.

Standard library only (no TensorFlow): it starts at once.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from trainer.kinds import KINDS, FeatureKind
from trainer.schema import Schema

# What Keras' export writes, and what gcloud's local prediction loads.
SAVED_MODEL_FILE = "saved_model.pb"


@dataclass(frozen=True)
class NonFinite:
    """NaN or Infinity in a line: Python's JSON reader takes them, standard JSON does not."""

    token: str


def _describe(value: object) -> str:
    """A JSON value as a message shows it: its JSON type, and the value when it is short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"the number {json.dumps(value)}"
    if isinstance(value, str):
        return f"the string {json.dumps(value)}"
    if isinstance(value, NonFinite):
        return f"{value.token}, which is not JSON"
    return "an array" if isinstance(value, list) else "an object"


def _feature_problem(name: str, value: object, kind: FeatureKind) -> str | None:
    """Why `value` is not one the serving signature takes for feature `name`, or None."""
    if kind.accepts_instance(value):
        return None
    return (
        f"'{name}' is a {kind.name} feature, but its value is {_describe(value)}: "
        f"write {kind.value_words}, or {kind.instance_missing} when it is missing"
    )


def _unknown_key(key: str, schema: Schema) -> str:
    if key == schema.label:
        return f"'{key}' is the label, which the model predicts: leave it out"
    close = difflib.get_close_matches(key, schema.features, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"its features: {', '.join(schema.features)}"
    return f"'{key}' is not a feature of the model ({hint})"


def instance_problems(instance: object, schema: Schema) -> list[str]:
    """What is wrong with one decoded instance: one message per key, in the schema's order."""
    if not isinstance(instance, dict):
        return [
            f"{_describe(instance)}, not a JSON object of feature values "
            f'such as {{"{schema.features[0]}": ...}}'
        ]
    problems = []
    for name, kind in schema.feature_kinds.items():
        if name not in instance:
            problems.append(
                f"no key '{name}': every feature needs one ({kind.instance_missing} when missing)"
            )
        else:
            problems.append(_feature_problem(name, instance[name], kind))
    problems += [_unknown_key(key, schema) for key in instance if key not in schema.features]
    return [problem for problem in problems if problem]


def file_problems(path: Path, schema: Schema) -> list[str]:
    """Every problem of an instances file, each prefixed with the file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # gcloud reads a byte-order mark too
    except FileNotFoundError:
        return [f"{path}: no such file; `make prepare` writes one (or set INSTANCES=...)"]
    except IsADirectoryError:
        return [f"{path}: is a directory, not an instances file"]
    except UnicodeDecodeError as err:
        return [f"{path}: not UTF-8 text ({err.reason} at byte {err.start})"]
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    if not lines:
        return [f"{path}: no instances; write one JSON object a line"]
    problems = []
    for number, line in enumerate(lines, start=1):
        where = f"{path}, line {number}"
        if not line.strip():
            problems.append(f"{where}: blank; gcloud refuses blank lines in an instances file")
            continue
        try:
            instance = json.loads(line, parse_constant=NonFinite)
        except json.JSONDecodeError as err:
            problems.append(f"{where}: not JSON ({err.msg}, column {err.colno})")
            continue
        problems += [f"{where}: {problem}" for problem in instance_problems(instance, schema)]
    return problems


def model_problems(model_dir: str) -> list[str]:
    """Why `model_dir` holds no exported model, or nothing. A gs:// directory is left to
    gcloud: checking it would need credentials."""
    if model_dir.startswith("gs://"):
        return []
    path = Path(model_dir)
    if not path.is_dir():
        return [f"{model_dir}: no exported model here; run `make train` first (or set JOB_DIR)"]
    if not (path / SAVED_MODEL_FILE).is_file():
        return [
            f"{model_dir} holds no {SAVED_MODEL_FILE}, so it is not an exported model; "
            "run `make train` first (or set JOB_DIR)"
        ]
    return []


def format_hint(schema: Schema) -> str:
    """The instance format in one sentence, shown under the problems of an instances file."""
    parts = [
        f"{kind.value_words} ({kind.instance_missing} when missing) for {', '.join(names)}"
        for kind in KINDS
        if (names := schema.of(kind))
    ]
    return "note: each line is one JSON object with every feature: " + "; ".join(parts)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.instances",
        description="Check a prediction instances file against the project's schema, and the "
        "model directory, before gcloud ai-platform local predict runs.",
    )
    parser.add_argument("instances", type=Path, help="one JSON object a line")
    parser.add_argument(
        "--model-dir", required=True, help="the exported model (JOB_DIR/model after make train)"
    )
    return parser


def _project_schema() -> Schema:
    from trainer.features import SCHEMA  # noqa: PLC0415 -- rendered (as in workflow/data/reading.py)

    return SCHEMA


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    schema = _project_schema()
    instance_errors = file_problems(args.instances, schema)
    errors = model_problems(args.model_dir) + instance_errors
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if instance_errors:
        print(format_hint(schema), file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
