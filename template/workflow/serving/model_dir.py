"""Where the model to serve lies: a directory given with --model-dir, or the one that a finished
custom job of scripts/submit.sh exported to. Checked before anything is sent, so that a wrong
path fails here rather than in Vertex AI's upload."""

from __future__ import annotations

from workflow import gcs
from workflow.cloud import gcloud
from workflow.cloud.preflight import PreflightError
from workflow.cloud.settings import CloudSettings
from workflow.serving import commands
from workflow.serving.vertex import ServingError, resource_id

# Vertex AI gives the trainer AIP_MODEL_DIR = <the job's baseOutputDirectory>/model.
MODEL_SUBDIRECTORY = "model"
SUCCEEDED = "JOB_STATE_SUCCEEDED"


def problem(uri: str, bucket: str) -> str | None:
    """Why `uri` cannot be the model directory to serve, or None. Vertex AI reads the model from
    Cloud Storage; the project's bucket is the one in the project's region."""
    try:
        name, path = gcs.split_uri(uri)
    except ValueError:
        return (
            f"{uri} is not a gs:// URI: Vertex AI serves a model from Cloud Storage. Pass the "
            "model directory of a cloud job (--model-dir gs://...), or the job (--job JOB_ID)."
        )
    if name != bucket:
        return (
            f"{uri} is not in the project's bucket gs://{bucket} (config/cloud.mk's BUCKET, in "
            "the project's region): copy the model there, or set BUCKET."
        )
    if not path.strip("/"):
        return f"{uri} is the bucket itself: pass the directory that holds saved_model.pb"
    return None


def check(uri: str, bucket: str) -> None:
    """Refuses a model directory outside the project's bucket, before any request."""
    found = problem(uri, bucket)
    if found:
        raise PreflightError(found)


def check_saved_model(client, uri: str) -> None:
    """The directory holds a SavedModel: its saved_model.pb, which the serving image loads."""
    name, path = gcs.split_uri(uri)
    if client.bucket(name).get_blob(f"{path.rstrip('/')}/saved_model.pb") is None:
        raise PreflightError(
            f"{uri} holds no saved_model.pb: is it the exported model's directory? A cloud job "
            f"exports to <its output directory>/{MODEL_SUBDIRECTORY}; --job JOB_ID finds it."
        )


def of_job(cloud: CloudSettings, job: str) -> str:
    """The model directory of a finished custom job (an id, or its full resource name)."""
    described = gcloud.run_json(commands.describe_job(cloud, job))
    state = described.get("state", "JOB_STATE_UNSPECIFIED")
    if state != SUCCEEDED:
        raise ServingError(
            f"custom job {resource_id(job)} is {state}, not {SUCCEEDED}: deploy it once it has "
            "finished training"
        )
    prefix = described.get("jobSpec", {}).get("baseOutputDirectory", {}).get("outputUriPrefix")
    if not prefix:
        raise ServingError(
            f"custom job {resource_id(job)} has no output directory (baseOutputDirectory): pass "
            "the model's directory with --model-dir"
        )
    return f"{prefix.rstrip('/')}/{MODEL_SUBDIRECTORY}"
