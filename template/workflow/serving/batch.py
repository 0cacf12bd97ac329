"""Predicts many instances at once on Vertex AI (make batch-predict, scripts/batch-predict.sh):

    python -m workflow.serving.batch --input gs://BUCKET/.../*.jsonl [--output gs://BUCKET/...]
        [--dry-run]

A batch prediction job runs the newest version of the project's model in the Model Registry
(the one scripts/deploy.sh uploaded last) on machines of its own, started for the job and
stopped when it ends, over JSON Lines files (one instance a line, as in data/instances.json),
and writes the predictions under the output prefix. It needs no endpoint. Before anything is
sent, the input and the output must lie in single-region buckets in the job's region, and the
input must name files. gcloud has no command for it, so the job is created through Vertex AI's
REST API (workflow.serving.rest). With --dry-run, it prints the lookups and the request body and
sends nothing.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
from datetime import datetime, timezone

from google.api_core import exceptions as google_exceptions

from workflow import gcs
from workflow.cloud import preflight
from workflow.cloud.settings import CloudSettings
from workflow.serving import cli, commands, rest, vertex
from workflow.serving.config import ServingSettings

COLLECTION = "batchPredictionJobs"
# Where the predictions go when --output is not given: the project's bucket, in its region.
DEFAULT_OUTPUT_FOLDER = "batch-predictions"
# Vertex AI's display names: up to 128 characters.
DISPLAY_NAME_LENGTH = 128
# What a dry run cannot know without asking Vertex AI, in what it prints.
MODEL_ID, VERSION_ID = "MODEL_ID", "VERSION_ID"
# A timestamp in Vertex AI's JSON: RFC 3339, always in UTC (Z).
CREATE_TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?Z")
CONSOLE_URL = (
    "https://console.cloud.google.com/agent-platform/locations/{region}/batch-predictions/{id}"
    "?project={project}"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/batch-predict.sh",
        description="Predict JSON Lines files in Cloud Storage with the newest version of the "
        "project's model in the Model Registry, in a Vertex AI batch prediction job; the "
        "machines are in config/serving.yaml (batch).",
    )
    parser.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="gs://...",
        help="JSON Lines files, one instance a line as in data/instances.json; wildcards "
        "such as gs://BUCKET/instances/*.jsonl are allowed",
    )
    parser.add_argument(
        "--output",
        metavar="gs://...",
        help="the prefix the job writes its results under (default: "
        f"gs://BUCKET/{DEFAULT_OUTPUT_FOLDER}, in the project's bucket)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the lookups and the request; send nothing"
    )
    return parser


def uri_problem(uri: str, role: str) -> str | None:
    """Why `uri` cannot be the job's input (role "input") or output, or None; no request."""
    try:
        bucket, path = gcs.split_uri(uri)
    except ValueError:
        return (
            f"the {role} {uri} is not a gs:// URI: a batch prediction job reads and writes "
            "Cloud Storage. Copy the instances there first: gcloud storage cp FILE gs://..."
        )
    bad_name = gcs.bucket_name_problem(bucket)
    if bad_name:
        return f"the {role} {uri}: {bad_name}"
    if role == "input" and not path.strip("/"):
        return f"the input {uri} is a whole bucket: name its JSON Lines files (gs://.../*.jsonl)"
    if role == "input" and path.lower().endswith(".csv"):
        return (
            f"the input {uri} is a CSV file, but the job reads JSON Lines: one JSON object of "
            "feature values a line, as in data/instances.json"
        )
    return None


def check_uris(inputs: list[str], output: str) -> None:
    for uri, role in [*((uri, "input") for uri in inputs), (output, "output")]:
        found = uri_problem(uri, role)
        if found:
            raise preflight.PreflightError(found)


def check_buckets(client, cloud: CloudSettings, uris: list[str]) -> None:
    """Each bucket exists, as a single-region bucket in the job's region: the same rule as for
    the training data, and where Vertex AI reads and writes fastest."""
    for name in dict.fromkeys(gcs.split_uri(uri)[0] for uri in uris):
        try:
            bucket = client.get_bucket(name)
        except google_exceptions.NotFound:
            raise preflight.PreflightError(
                f"gs://{name} does not exist; create it in {cloud.region} with "
                f"`{gcs.create_bucket_command(name, cloud.region, cloud.project)}`"
            ) from None
        problem = gcs.location_problem(bucket, cloud.region)
        if problem:
            raise preflight.PreflightError(
                f"{problem}. A batch prediction job in {cloud.region} reads its input and writes "
                f"its output there too: use a single-region bucket in {cloud.region}, such as "
                f"the project's gs://{cloud.bucket}."
            )


def check_inputs_exist(client, inputs: list[str]) -> None:
    """Each input names at least one object (a wildcard, at least one match)."""
    for uri in inputs:
        name, path = gcs.split_uri(uri)
        wildcard = preflight.GLOB_CHARACTERS.search(path)
        if wildcard:
            blobs = client.list_blobs(name, prefix=path[: wildcard.start()])
            found = any(fnmatch.fnmatchcase(blob.name, path) for blob in blobs)
        else:
            found = client.bucket(name).get_blob(path) is not None
        if not found:
            raise preflight.PreflightError(
                f"the input {uri} matches no file in Cloud Storage: upload the instances first "
                f"(gcloud storage cp data/instances.json gs://{name}/...)"
            )


def display_name(serving: ServingSettings, now: datetime) -> str:
    suffix = f" batch {now.strftime('%Y%m%d-%H%M%S')}"
    return serving.model_display_name[: DISPLAY_NAME_LENGTH - len(suffix)] + suffix


def job_body(
    serving: ServingSettings, model_version: str, inputs: list[str], output: str, name: str
) -> dict:
    """The BatchPredictionJob to create, as Vertex AI's REST API takes it (camelCase JSON)."""
    batch, accelerator = serving.batch, serving.accelerator
    machine_spec: dict = {"machineType": batch.machine_type}
    if accelerator:
        machine_spec |= {"acceleratorType": accelerator.type, "acceleratorCount": accelerator.count}
    return {
        "displayName": name,
        "model": model_version,
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": inputs}},
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": output},
        },
        "dedicatedResources": {
            "machineSpec": machine_spec,
            "startingReplicaCount": batch.starting_replica_count,
            "maxReplicaCount": batch.max_replica_count,
        },
        "labels": dict(serving.labels),
    }


def results_directory(output: str, model_display_name: str, create_time: str | None) -> str:
    """Where Vertex AI writes the results: a new directory under the output prefix named
    prediction-<model display name>-<the job's creation time, YYYY-MM-DDThh:mm:ss.sssZ>.
    `create_time` is the job's, as the API writes it (UTC, with 0 to 9 decimals)."""
    created = CREATE_TIME.fullmatch(create_time or "")
    stamp = f"{created[1]}.{(created[2] or '').ljust(3, '0')[:3]}Z" if created else "<created>"
    return f"{output.rstrip('/')}/prediction-{model_display_name}-{stamp}/"


def print_dry_run(context: cli.Context, url: str, body: dict) -> None:
    cloud, serving = context.cloud, context.serving
    cli.dry_run_header(context, "a batch prediction job")
    print(
        f"\n# 1. Check in Cloud Storage that every bucket is a single-region bucket in "
        f"{cloud.region}, and that the input names files."
    )
    print(f"\n# 2. Find the model {serving.model_display_name!r} ({MODEL_ID}):")
    cli.print_command(commands.list_models(cloud, serving))
    print(f"\n# 3. Find its newest version ({VERSION_ID}, the highest version id):")
    cli.print_command(commands.list_model_versions(cloud, MODEL_ID))
    print("\n# 4. Create the job (Vertex AI's REST API, with the Application Default Credentials):")
    print(f"POST {url}")
    print(json.dumps(body, indent=2))


def batch_predict(context: cli.Context, args: argparse.Namespace) -> None:
    cloud, serving = context.cloud, context.serving
    output = args.output or f"gs://{cloud.bucket}/{DEFAULT_OUTPUT_FOLDER}"
    check_uris(args.input, output)
    url = rest.collection_url(rest.api_root(cloud), cloud, COLLECTION)
    name = display_name(serving, datetime.now(timezone.utc))
    if args.dry_run:
        placeholder = f"{commands.model_name(cloud, MODEL_ID)}@{VERSION_ID}"
        print_dry_run(context, url, job_body(serving, placeholder, args.input, output, name))
        return

    client = preflight.storage_client(cloud.project)
    check_buckets(client, cloud, [*args.input, output])
    check_inputs_exist(client, args.input)
    model = vertex.find_model(cloud, serving)
    if model is None:
        raise vertex.ServingError(
            f"no model named {serving.model_display_name!r} in the Model Registry in "
            f"{cloud.region} of project {cloud.project}: upload one first with "
            "scripts/deploy.sh --job JOB_ID (or --model-dir gs://...)"
        )
    version = vertex.latest_version(cloud, model)
    model_id, version_id = vertex.resource_id(model["name"]), str(version["versionId"])
    model_version = f"{commands.model_name(cloud, model_id)}@{version_id}"
    job = rest.post(url, job_body(serving, model_version, args.input, output, name))

    job_id = vertex.resource_id(job["name"])
    machines = serving.batch
    print(
        f"Created batch prediction job {job_id} ({job.get('displayName', name)}): version "
        f"{version_id} of model {model_id} ({serving.model_display_name}) predicts "
        f"{' '.join(args.input)} on {machines.machine_type} (replicas: "
        f"{machines.starting_replica_count} to {machines.max_replica_count})."
    )
    where = results_directory(output, serving.model_display_name, job.get("createTime"))
    print(f"  results:   {where}predictions_0001.jsonl, ... (errors_0001.jsonl, ... if any fail)")
    url = CONSOLE_URL.format(region=cloud.region, id=job_id, project=cloud.project)
    print(f"  follow it: {url}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return cli.run(lambda context: batch_predict(context, args))


if __name__ == "__main__":
    sys.exit(main())
