"""The project's model and endpoint as Vertex AI holds them: found again by their display names
(config/serving.yaml), and emptied in an order that Vertex AI accepts."""

from __future__ import annotations

from workflow.cloud import gcloud
from workflow.cloud.settings import CloudSettings
from workflow.serving import commands
from workflow.serving.config import ServingSettings


class ServingError(Exception):
    """Vertex AI holds something the scripts cannot go on with; the message says what to do."""


def resource_id(name: str) -> str:
    """'projects/p/locations/r/endpoints/123' -> '123'."""
    return name.rstrip("/").rsplit("/", 1)[-1]


def _only(kind: str, found: list[dict], display_name: str, cloud: CloudSettings) -> dict | None:
    # gcloud's filter is looser than equality (case, patterns): compare exactly here.
    named = [item for item in found if item.get("displayName") == display_name]
    if len(named) > 1:
        ids = ", ".join(resource_id(item["name"]) for item in named)
        raise ServingError(
            f"{len(named)} {kind}s in {cloud.region} of project {cloud.project} are named "
            f"{display_name!r} ({ids}): the scripts find theirs by that name. Delete the extra "
            f"ones, or give config/serving.yaml's {kind}_display_name a name of its own."
        )
    return named[0] if named else None


def find_model(cloud: CloudSettings, serving: ServingSettings) -> dict | None:
    """The project's model in the Model Registry, or None before the first deploy."""
    found = gcloud.run_json(commands.list_models(cloud, serving))
    return _only("model", found, serving.model_display_name, cloud)


def latest_version(cloud: CloudSettings, model: dict) -> dict:
    """The model's newest version (the highest version id), which the last deploy uploaded."""
    versions = gcloud.run_json(commands.list_model_versions(cloud, resource_id(model["name"])))
    if not versions:
        raise ServingError(f"model {model['name']} lists no version")
    return max(versions, key=lambda version: int(version["versionId"]))


def find_endpoint(cloud: CloudSettings, serving: ServingSettings) -> dict | None:
    """The project's endpoint, with its deployed models and traffic, or None."""
    found = gcloud.run_json(commands.list_endpoints(cloud, serving))
    return _only("endpoint", found, serving.endpoint_display_name, cloud)


def describe_endpoint(cloud: CloudSettings, endpoint_id: str) -> dict:
    return gcloud.run_json(commands.describe_endpoint(cloud, endpoint_id))


def deployed_models(endpoint: dict) -> list[dict]:
    # gcloud leaves out an empty list.
    return endpoint.get("deployedModels", [])


def undeploy_steps(endpoint: dict, keep: str | None = None) -> list[tuple[str, dict | None]]:
    """The undeploy-model calls that empty `endpoint` (all but the deployed model `keep`), each
    as (deployed model id, traffic split or None).

    Vertex AI undeploys a model only once no traffic goes to it, unless it is the last one or
    the call's traffic split moves its traffic away. So the models without traffic go first; one
    that still has traffic gives it all to the model that stays (`keep`, or else the one with
    the most traffic, undeployed last)."""
    traffic = {key: int(value) for key, value in endpoint.get("trafficSplit", {}).items()}
    ids = sorted((d["id"] for d in deployed_models(endpoint)), key=lambda i: traffic.get(i, 0))
    if keep is None:
        if not ids:
            return []
        *others, heir = ids
    else:
        others, heir = [i for i in ids if i != keep], keep
    steps = [(i, {heir: 100} if traffic.get(i) else None) for i in others]
    return steps if keep is not None else [*steps, (heir, None)]
