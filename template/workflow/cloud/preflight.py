"""The checks before anything is uploaded or sent. Each failure is a PreflightError whose
message says how to fix it."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from pathlib import Path

import google.auth.exceptions
from google.cloud import storage

from workflow import gcs
from workflow.cloud import gcloud, package
from workflow.cloud.settings import CloudSettings

GLOB_CHARACTERS = re.compile(r"[*?\[]")


class PreflightError(Exception):
    """Something the job would fail on; the message says how to fix it."""


def storage_client(project_id: str):
    """A Cloud Storage client with the Application Default Credentials."""
    try:
        return storage.Client(project=project_id)
    except google.auth.exceptions.DefaultCredentialsError:
        raise PreflightError(
            "no Application Default Credentials for Cloud Storage: "
            "run `gcloud auth application-default login`"
        ) from None


def bucket(client, settings: CloudSettings, allow_multi_region: bool = False):
    """The bucket, once it is known to be a single-region bucket in the job's region."""
    try:
        return gcs.check_bucket(client, settings.bucket, settings.region, allow_multi_region)
    except gcs.BucketError as err:
        raise PreflightError(str(err)) from None


def data_files(client, uris: Iterable[str]) -> None:
    """Every training and evaluation URI (or glob pattern) names at least one object."""
    for uri in uris:
        try:
            name, path = gcs.split_uri(uri)
        except ValueError:
            raise PreflightError(
                f"{uri} is not a gs:// URI: the cloud job reads its data from Cloud Storage. "
                "Stage it with `make stage-data` and pass the gs:// URIs it prints."
            ) from None
        wildcard = GLOB_CHARACTERS.search(path)
        if wildcard:
            prefix = path[: wildcard.start()]
            found = any(
                fnmatch.fnmatchcase(blob.name, path)
                for blob in client.list_blobs(name, prefix=prefix)
            )
        else:
            found = client.bucket(name).get_blob(path) is not None
        if not found:
            raise PreflightError(
                f"{uri} does not exist: stage the data with `make stage-data`, or point "
                "--train-files/--eval-files (or train_files/eval_files in config/cloud.yaml) "
                "at your own gs:// files"
            )


def package_imports(sdist: Path) -> None:
    try:
        package.check_imports(sdist)
    except package.PackageError as err:
        raise PreflightError(
            f"the trainer package does not work on its own: {err}\n"
            "A module the trainer imports may be missing from the package (a folder without "
            "__init__.py) or need a dependency that setup.py's install_requires does not list."
        ) from None


def artifact_repository(settings: CloudSettings) -> None:
    try:
        gcloud.run(
            [
                *("artifacts", "repositories", "describe", settings.artifact_repository),
                *("--location", settings.region, "--project", settings.project),
                "--format=value(name)",
            ],
            show=False,
        )
    except gcloud.GcloudError:
        raise PreflightError(
            f"the Artifact Registry repository {settings.artifact_repository} in "
            f"{settings.region} cannot be read; create it with `gcloud artifacts repositories "
            f"create {settings.artifact_repository} --repository-format=docker "
            f"--location={settings.region} --project={settings.project}`"
        ) from None


def executor_matches_pin(executor_image: str, requirements: Path) -> None:
    """The prebuilt image must run the TensorFlow that requirements.txt pins, the one the trainer
    is tested with locally; the package brings no TensorFlow of its own."""
    pinned = package.pinned_version(requirements)
    image_minor = package.image_tf_minor(executor_image)
    fixes = (
        "Either use the custom container (container: custom in config/cloud.yaml, or "
        "--container custom), which installs the pinned TensorFlow, or pin requirements.txt "
        f"to the image's TensorFlow{f' {image_minor}' if image_minor else ''} "
        "(tensorflow-cpu and tensorflow, with a keras that supports it)."
    )
    if image_minor is None:
        raise PreflightError(
            f"the prebuilt image {executor_image} does not say which TensorFlow it runs (a "
            "Vertex AI image is named like .../tf-cpu.2-17.py310:latest). " + fixes
        )
    if pinned is None:
        raise PreflightError(
            f"{requirements.name} has no 'tensorflow-cpu==VERSION' line to compare with the "
            f"prebuilt image {executor_image} (TensorFlow {image_minor}). " + fixes
        )
    if image_minor != package.minor(pinned):
        raise PreflightError(
            f"the prebuilt image {executor_image} runs TensorFlow {image_minor}, but "
            f"{requirements.name} pins TensorFlow {pinned}: the job would not run what you "
            "test locally. " + fixes
        )
