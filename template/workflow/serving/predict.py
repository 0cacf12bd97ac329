"""Predicts data/instances.json on the project's endpoint (make predict-cloud):

    python -m workflow.serving.predict [--instances FILE] [--dry-run]

The instances file holds one JSON instance a line, as `make predict` (gcloud ai-platform local
predict --json-instances) reads it; `gcloud ai endpoints predict --json-request` wants one JSON
request, {"instances": [...]}. So this writes that request to build/serving/request.json, sends
it, and prints the predictions as a table, with the same columns as `make predict`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workflow.cloud import gcloud
from workflow.serving import cli, commands, vertex

REQUEST_FILE = Path("build/serving/request.json")
ENDPOINT_ID = "ENDPOINT_ID"  # in a dry run, what the endpoint lookup would find


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.serving.predict",
        description="Predict instances on the project's Vertex AI endpoint (scripts/deploy.sh "
        "deploys a model there).",
    )
    parser.add_argument(
        "--instances",
        type=Path,
        default=Path("data/instances.json"),
        help="one JSON instance a line, raw feature values (default: %(default)s)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="write the request, print the commands; send nothing"
    )
    return parser


def read_instances(path: Path) -> list:
    """The instances of a file with one JSON value a line (blank lines skipped)."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise vertex.ServingError(f"{path} does not exist: `make prepare` writes it") from None
    instances = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            instances.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise vertex.ServingError(
                f"{path}, line {number}: not one JSON instance ({err.msg}); the file holds one "
                "JSON object a line"
            ) from None
    if not instances:
        raise vertex.ServingError(f"{path} holds no instance")
    return instances


def _cell(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def prediction_table(predictions: list) -> str:
    """The predictions as gcloud prints them locally: a column per output, named in upper case
    (sorted, as gcloud sorts them), or one column without a heading for plain values."""
    if not predictions or not all(isinstance(p, dict) for p in predictions):
        return "\n".join(_cell(p) for p in predictions)
    keys = sorted({key for prediction in predictions for key in prediction})
    rows = [[key.upper() for key in keys]]
    rows += [[_cell(prediction.get(key, "")) for key in keys] for prediction in predictions]
    widths = [max(len(row[i]) for row in rows) for i in range(len(keys))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def predict(context: cli.Context, args: argparse.Namespace) -> None:
    cloud, serving = context.cloud, context.serving
    request = context.root / REQUEST_FILE
    request.parent.mkdir(parents=True, exist_ok=True)
    request.write_text(json.dumps({"instances": read_instances(args.instances)}) + "\n")
    if args.dry_run:
        cli.dry_run_header(context, f"predict {args.instances} on the project's endpoint")
        print(f"\n# 1. Find the endpoint {serving.endpoint_display_name!r} ({ENDPOINT_ID}):")
        cli.print_command(commands.list_endpoints(cloud, serving))
        print(f"\n# 2. Send the request {REQUEST_FILE}:")
        cli.print_command(commands.predict(cloud, ENDPOINT_ID, str(REQUEST_FILE)))
        return
    endpoint = vertex.find_endpoint(cloud, serving)
    if endpoint is None or not vertex.deployed_models(endpoint):
        where = f"in {cloud.region} of project {cloud.project}"
        state = "has no model deployed" if endpoint else "does not exist"
        raise vertex.ServingError(
            f"the endpoint {serving.endpoint_display_name!r} {where} {state}: deploy a model "
            "first with scripts/deploy.sh --job JOB_ID (or --model-dir gs://...)"
        )
    endpoint_id = vertex.resource_id(endpoint["name"])
    response = gcloud.run_json(commands.predict(cloud, endpoint_id, str(REQUEST_FILE)))
    print(prediction_table(response.get("predictions", [])))
    print(
        f"(endpoint {endpoint_id}: version {response.get('modelVersionId', '?')} of model "
        f"{vertex.resource_id(response.get('model', '?'))})",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return cli.run(lambda context: predict(context, args))


if __name__ == "__main__":
    sys.exit(main())
