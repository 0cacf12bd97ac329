"""Serves a trained model on Vertex AI (scripts/deploy.sh):

    python -m workflow.serving.deploy (--model-dir gs://... | --job JOB_ID) [--dry-run]

The steps: find the model directory (a finished job's <output directory>/model); check it; upload
it to the Model Registry as a new version of the project's model; create the project's endpoint
the first time; deploy the new version there with all of the traffic; and once it serves,
undeploy the versions that served before, so that only one is billed. config/serving.yaml holds
the image, the machines and the names. With --dry-run, it prints those gcloud commands and
sends nothing.
"""

from __future__ import annotations

import argparse
import sys

from workflow.cloud import gcloud, preflight
from workflow.serving import cli, commands, model_dir, vertex
from workflow.serving.config import label_value

# What a dry run cannot know without asking Vertex AI, in the commands it prints.
MODEL_ID, VERSION_ID, ENDPOINT_ID = "MODEL_ID", "VERSION_ID", "ENDPOINT_ID"
DEPLOYED_MODEL_ID, OUTPUT_DIR = "DEPLOYED_MODEL_ID", "OUTPUT_DIR"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/deploy.sh",
        description="Serve a trained model on Vertex AI: a new version of the project's model "
        "in the Model Registry, deployed with all of the traffic to the project's endpoint, "
        "where it replaces the version that served before (config/serving.yaml).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--model-dir",
        metavar="gs://...",
        help="the exported model's directory (it holds saved_model.pb), in the project's bucket",
    )
    source.add_argument(
        "--job",
        metavar="JOB_ID",
        help="a finished custom job of scripts/submit.sh: serve the model it exported",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the gcloud commands; send nothing"
    )
    return parser


def print_dry_run(context: cli.Context, args: argparse.Namespace, labels: dict) -> None:
    cloud, serving = context.cloud, context.serving
    uri = args.model_dir or f"{OUTPUT_DIR}/{model_dir.MODEL_SUBDIRECTORY}"
    cli.dry_run_header(context, f"serve {args.model_dir or f'the model of job {args.job}'}")
    if args.job:
        print(
            f"\n# Find the job's {OUTPUT_DIR} (jobSpec.baseOutputDirectory); it must have succeeded"
        )
        cli.print_command(commands.describe_job(cloud, args.job))
    print(f"\n# 1. Find the model and the endpoint by display name ({MODEL_ID}, {ENDPOINT_ID}):")
    cli.print_command(commands.list_models(cloud, serving))
    cli.print_command(commands.list_endpoints(cloud, serving))
    print(
        f"\n# 2. Upload {uri} as {VERSION_ID}, a new version of the model "
        "(--parent-model once the model exists; without it, the first version of a new model):"
    )
    parent = commands.model_name(cloud, MODEL_ID)
    cli.print_command(commands.upload_model(cloud, serving, uri, labels, parent))
    print("\n# 3. Create the endpoint, the first time only:")
    cli.print_command(commands.create_endpoint(cloud, serving))
    print("\n# 4. Deploy the new version with all of the endpoint's traffic:")
    cli.print_command(commands.deploy_model(cloud, serving, ENDPOINT_ID, MODEL_ID, VERSION_ID))
    print(
        "\n# 5. Once the new version serves (the endpoint gives it all of the traffic), undeploy "
        "each version that served before:"
    )
    cli.print_command(commands.describe_endpoint(cloud, ENDPOINT_ID))
    cli.print_command(commands.undeploy_model(cloud, ENDPOINT_ID, DEPLOYED_MODEL_ID))


def serving_deployment(endpoint: dict, model_id: str, version_id: str) -> dict:
    """The endpoint's deployment of that model version, once it has all of the traffic."""
    for deployed in vertex.deployed_models(endpoint):
        same_model = vertex.resource_id(deployed["model"]) == model_id
        if same_model and str(deployed.get("modelVersionId")) == version_id:
            traffic = int(endpoint.get("trafficSplit", {}).get(deployed["id"], 0))
            if traffic == 100:
                return deployed
            raise vertex.ServingError(
                f"version {version_id} of model {model_id} is deployed with {traffic}% of the "
                "traffic, not 100%: the versions deployed before stay, so nothing stops serving. "
                "Set the traffic in the console, then run scripts/deploy.sh again."
            )
    raise vertex.ServingError(
        f"the endpoint does not list version {version_id} of model {model_id} after deploying it"
    )


def deploy(context: cli.Context, args: argparse.Namespace) -> None:
    cloud, serving = context.cloud, context.serving
    labels = dict(serving.labels)
    if args.job:
        labels["training-job"] = label_value(vertex.resource_id(args.job))
    if args.dry_run:
        if args.model_dir:
            model_dir.check(args.model_dir, cloud.bucket)
        print_dry_run(context, args, labels)
        return
    uri = model_dir.of_job(cloud, args.job) if args.job else args.model_dir
    model_dir.check(uri, cloud.bucket)
    model_dir.check_saved_model(preflight.storage_client(cloud.project), uri)

    model = vertex.find_model(cloud, serving)
    parent = commands.model_name(cloud, vertex.resource_id(model["name"])) if model else None
    uploaded = gcloud.run_json(commands.upload_model(cloud, serving, uri, labels, parent))
    model_id, version_id = vertex.resource_id(uploaded["model"]), str(uploaded["modelVersionId"])
    print(f"uploaded {uri}: version {version_id} of model {model_id}", file=sys.stderr)

    endpoint = vertex.find_endpoint(cloud, serving)
    if endpoint is None:
        endpoint = gcloud.run_json(commands.create_endpoint(cloud, serving))
        print(f"created the endpoint {endpoint['name']}", file=sys.stderr)
    endpoint_id = vertex.resource_id(endpoint["name"])
    gcloud.run(commands.deploy_model(cloud, serving, endpoint_id, model_id, version_id))
    endpoint = vertex.describe_endpoint(cloud, endpoint_id)
    deployed = serving_deployment(endpoint, model_id, version_id)
    for deployed_id, split in vertex.undeploy_steps(endpoint, keep=deployed["id"]):
        gcloud.run(commands.undeploy_model(cloud, endpoint_id, deployed_id, split))

    print(
        f"Serving version {version_id} of model {model_id} ({serving.model_display_name}) on "
        f"endpoint {endpoint_id} ({serving.endpoint_display_name}) in {cloud.region}."
    )
    print("  predict:     make predict-cloud")
    print("  stop paying: make undeploy  (a deployed model bills its machines, used or not)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return cli.run(lambda context: deploy(context, args))


if __name__ == "__main__":
    sys.exit(main())
