"""Stops paying for serving (scripts/undeploy.sh, make undeploy):

    python -m workflow.serving.undeploy [--delete-endpoint] [--dry-run]

An endpoint bills the machines of every model deployed to it, used or not. This undeploys them
all; with --delete-endpoint it then deletes the endpoint too. The models stay in the Model
Registry (free), so scripts/deploy.sh can serve one again.
"""

from __future__ import annotations

import argparse
import sys

from workflow.cloud import gcloud
from workflow.serving import cli, commands, vertex

ENDPOINT_ID, DEPLOYED_MODEL_ID = "ENDPOINT_ID", "DEPLOYED_MODEL_ID"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/undeploy.sh",
        description="Undeploy every model from the project's Vertex AI endpoint, so that "
        "nothing is billed for serving; the models stay in the Model Registry.",
    )
    parser.add_argument(
        "--delete-endpoint", action="store_true", help="then delete the endpoint as well"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the gcloud commands; send nothing"
    )
    return parser


def print_dry_run(context: cli.Context, delete_endpoint: bool) -> None:
    cloud, serving = context.cloud, context.serving
    cli.dry_run_header(context, "undeploy every model from the project's endpoint")
    print(f"\n# 1. Find the endpoint {serving.endpoint_display_name!r} ({ENDPOINT_ID}):")
    cli.print_command(commands.list_endpoints(cloud, serving))
    print(
        "\n# 2. Undeploy each deployed model; one that still has traffic gives it to the model "
        "undeployed last (--traffic-split):"
    )
    cli.print_command(commands.undeploy_model(cloud, ENDPOINT_ID, DEPLOYED_MODEL_ID))
    if delete_endpoint:
        print("\n# 3. Delete the endpoint:")
        cli.print_command(commands.delete_endpoint(cloud, ENDPOINT_ID))


def undeploy(context: cli.Context, args: argparse.Namespace) -> None:
    cloud, serving = context.cloud, context.serving
    if args.dry_run:
        print_dry_run(context, args.delete_endpoint)
        return
    endpoint = vertex.find_endpoint(cloud, serving)
    if endpoint is None:
        print(
            f"No endpoint named {serving.endpoint_display_name!r} in {cloud.region} of project "
            f"{cloud.project}: nothing is deployed, nothing to undeploy."
        )
        return
    endpoint_id = vertex.resource_id(endpoint["name"])
    steps = vertex.undeploy_steps(endpoint)
    for deployed_id, split in steps:
        gcloud.run(commands.undeploy_model(cloud, endpoint_id, deployed_id, split))
    print(f"Undeployed {len(steps)} model(s) from endpoint {endpoint_id}: it bills nothing now.")
    if args.delete_endpoint:
        gcloud.run(commands.delete_endpoint(cloud, endpoint_id))
        print(f"Deleted endpoint {endpoint_id}.")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return cli.run(lambda context: undeploy(context, args))


if __name__ == "__main__":
    sys.exit(main())
