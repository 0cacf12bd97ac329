"""The gcloud commands that serve the model, as argument lists: built here and nowhere else, so
that a dry run prints exactly what a real run sends. Every command names the project and region
of config/cloud.mk (--project, --region), whatever gcloud's own configuration says."""

from __future__ import annotations

from workflow.cloud.settings import CloudSettings
from workflow.serving.config import ServingSettings

# Deployed models' display names, like every Vertex AI display name, are at most 128 characters.
DISPLAY_NAME_LENGTH = 128


def _where(cloud: CloudSettings) -> list[str]:
    return ["--region", cloud.region, "--project", cloud.project]


def _display_name_filter(name: str) -> str:
    """A gcloud --filter on the display name; the caller still compares names exactly."""
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'--filter=displayName="{quoted}"'


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in labels.items())


def model_name(cloud: CloudSettings, model_id: str) -> str:
    """The model's resource name, by the project's id (Vertex AI answers with its number)."""
    return f"projects/{cloud.project}/locations/{cloud.region}/models/{model_id}"


def describe_job(cloud: CloudSettings, job: str) -> list[str]:
    return ["ai", "custom-jobs", "describe", job, *_where(cloud), "--format=json"]


def list_models(cloud: CloudSettings, serving: ServingSettings) -> list[str]:
    return [
        *("ai", "models", "list", *_where(cloud)),
        *(_display_name_filter(serving.model_display_name), "--format=json"),
    ]


def list_model_versions(cloud: CloudSettings, model_id: str) -> list[str]:
    return ["ai", "models", "list-version", model_id, *_where(cloud), "--format=json"]


def upload_model(
    cloud: CloudSettings,
    serving: ServingSettings,
    artifact_uri: str,
    labels: dict[str, str],
    parent_model: str | None,
) -> list[str]:
    """A new model in the registry, or with `parent_model` (model_name()) a new version of it."""
    return [
        *("ai", "models", "upload", *_where(cloud)),
        *("--display-name", serving.model_display_name),
        *("--container-image-uri", serving.image, "--artifact-uri", artifact_uri),
        *("--labels", _labels(labels)),
        *(("--parent-model", parent_model) if parent_model else ()),
        "--format=json",
    ]


def list_endpoints(cloud: CloudSettings, serving: ServingSettings) -> list[str]:
    return [
        *("ai", "endpoints", "list", *_where(cloud)),
        *(_display_name_filter(serving.endpoint_display_name), "--format=json"),
    ]


def create_endpoint(cloud: CloudSettings, serving: ServingSettings) -> list[str]:
    return [
        *("ai", "endpoints", "create", *_where(cloud)),
        *("--display-name", serving.endpoint_display_name, "--labels", _labels(serving.labels)),
        "--format=json",
    ]


def describe_endpoint(cloud: CloudSettings, endpoint_id: str) -> list[str]:
    return ["ai", "endpoints", "describe", endpoint_id, *_where(cloud), "--format=json"]


def deploy_model(
    cloud: CloudSettings,
    serving: ServingSettings,
    endpoint_id: str,
    model_id: str,
    version_id: str,
) -> list[str]:
    """Deploys one version of the model with all of the endpoint's traffic (0 is the id that
    Vertex AI gives the model being deployed)."""
    suffix = f" v{version_id}"
    display_name = serving.model_display_name[: DISPLAY_NAME_LENGTH - len(suffix)] + suffix
    accelerator = serving.accelerator
    return [
        *("ai", "endpoints", "deploy-model", endpoint_id, *_where(cloud)),
        *("--model", f"{model_id}@{version_id}", "--display-name", display_name),
        *("--machine-type", serving.machine_type),
        *("--min-replica-count", str(serving.min_replica_count)),
        *("--max-replica-count", str(serving.max_replica_count)),
        "--traffic-split=0=100",
        # gcloud names accelerator types in lower case with hyphens: nvidia-tesla-t4.
        *(
            [
                f"--accelerator=type={accelerator.type.lower().replace('_', '-')},"
                f"count={accelerator.count}"
            ]
            if accelerator
            else []
        ),
    ]


def undeploy_model(
    cloud: CloudSettings,
    endpoint_id: str,
    deployed_model_id: str,
    traffic_split: dict[str, int] | None = None,
) -> list[str]:
    """Undeploys one deployed model; `traffic_split` first moves its traffic to the others."""
    split = ",".join(f"{key}={value}" for key, value in (traffic_split or {}).items())
    return [
        *("ai", "endpoints", "undeploy-model", endpoint_id, *_where(cloud)),
        *("--deployed-model-id", deployed_model_id),
        *([f"--traffic-split={split}"] if split else []),
    ]


def delete_endpoint(cloud: CloudSettings, endpoint_id: str) -> list[str]:
    # --quiet answers gcloud's "This will delete endpoint" prompt.
    return ["ai", "endpoints", "delete", endpoint_id, *_where(cloud), "--quiet"]


def predict(cloud: CloudSettings, endpoint_id: str, request_file: str) -> list[str]:
    return [
        *("ai", "endpoints", "predict", endpoint_id, *_where(cloud)),
        *("--json-request", request_file, "--format=json"),
    ]
