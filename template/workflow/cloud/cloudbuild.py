"""Building the custom container remotely with Cloud Build (no local Docker needed), into
Artifact Registry in the job's region, tagged with the sources' content hash.

`gcloud builds submit` runs with --async and its own staging directory in the project's bucket:
without --async gcloud streams the logs from a fixed storage endpoint, and without a staging
directory it wants a `<project>_cloudbuild` bucket. The scripts poll the build's status instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from workflow.cloud import gcloud

DOCKER_BUILDER = "gcr.io/cloud-builders/docker"
BUILD_TIMEOUT = "3600s"  # the GPU build downloads the CUDA wheels
DONE = ("SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED")


def image_uri(region: str, project: str, repository: str, name: str, tag: str) -> str:
    return f"{region}-docker.pkg.dev/{project}/{repository}/{name}:{tag}"


def build_config(image: str, variant: str, tags: Sequence[str] = ()) -> dict:
    """A Cloud Build config: `docker build` of the Dockerfile for `variant`, pushed to `image`.
    A build takes `tags` (text) where a job takes labels: `gcloud builds submit` has no
    --labels."""
    return {
        "steps": [
            {
                "name": DOCKER_BUILDER,
                "args": ["build", "--build-arg", f"TF_VARIANT={variant}", "--tag", image, "."],
            }
        ],
        "images": [image],
        "timeout": BUILD_TIMEOUT,
        **({"tags": list(tags)} if tags else {}),
    }


def write_build_config(path: Path, image: str, variant: str, tags: Sequence[str] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(build_config(image, variant, tags), sort_keys=False))
    return path


def submit_command(config: Path, region: str, project: str, staging_dir: str) -> list[str]:
    return [
        *("builds", "submit", "--async", "--region", region, "--project", project),
        *("--gcs-source-staging-dir", staging_dir, "--config", str(config)),
        *("--format=json", "."),
    ]


def image_exists(image: str, project: str) -> bool:
    """Whether Artifact Registry already holds `image` (repository/name:tag)."""
    repository_image, _, tag = image.rpartition(":")
    try:
        tags = gcloud.run(
            [
                *("artifacts", "docker", "tags", "list", repository_image),
                *("--project", project, "--format=value(tag)"),
            ],
            show=False,
        ).split()
    except gcloud.GcloudError:
        return False  # no such image yet: build it
    return tag in tags


def wait(build_id: str, region: str, project: str, poll_seconds: float) -> None:
    """Polls the build until it ends; raises GcloudError unless it succeeded."""
    status = ""
    while status not in DONE:
        build = gcloud.run_json(
            [
                *("builds", "describe", build_id),
                *("--region", region, "--project", project, "--format=json"),
            ],
            show=False,
        )
        if build.get("status") != status:
            status = build.get("status", "")
            print(f"build {build_id}: {status}", file=sys.stderr, flush=True)
        if status not in DONE:
            time.sleep(poll_seconds)
    if status != "SUCCESS":
        raise gcloud.GcloudError(
            f"the image build {build_id} ended {status}; its log: {build.get('logUrl', '?')}"
        )
