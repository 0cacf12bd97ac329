"""A local stand-in for Vertex AI's Model Registry, endpoints, online and batch prediction, as
far as scripts/deploy.sh, scripts/undeploy.sh, the cloud prediction (through gcloud) and
scripts/batch-predict.sh (through the REST API) use them (api_endpoint_overrides/aiplatform
points here).

It keeps the state those calls change, and enforces Vertex AI's rules that the scripts rely on:
every request body must parse strictly into Vertex AI's own type (an unknown field, bad enum or
wrong type answers 400); a new version needs an existing parent model; a traffic split adds up
to 100; a deployed model keeps its traffic until it is undeployed last or unassigned by the
split; an endpoint with deployed models cannot be deleted, nor can one without predict; a batch
prediction job needs an existing model version, dedicated machines, and an access token (gcloud,
whose credentials are disabled, sends none; the REST calls carry the Application Default
Credentials of `application_default_credentials()`).
Resource names carry the project's number, as Vertex AI's answers do, though requests name the
project by id. Long-running operations answer done at once, so gcloud has nothing to poll.
"""

from __future__ import annotations

import itertools
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

from google.cloud import aiplatform_v1
from google.protobuf import json_format

from endpoints import RecordingEndpoint, Request, Responder

LOCATION = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<region>[^/:]+)"
TYPE_URL = "type.googleapis.com/google.cloud.aiplatform.v1."
PROJECT_NUMBER = "123456789012"
# The access token of the Application Default Credentials that the tests write, which the batch
# prediction route requires.
ACCESS_TOKEN = "ya29.stand-in-token"
CREATE_TIME = "2026-12-02T10:11:12.345678Z"


def application_default_credentials(path: Path) -> Path:
    """Writes Application Default Credentials as `gcloud auth application-default login` does,
    holding an access token that is valid for centuries, so that google-auth sends it without
    asking Google for a new one; returns the path, for GOOGLE_APPLICATION_CREDENTIALS."""
    path.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "stand-in.apps.example.com",
                "client_secret": "stand-in",
                "refresh_token": "stand-in",
                "token": ACCESS_TOKEN,
                "expiry": "2999-01-01T00:00:00Z",
            }
        )
    )
    return path


def strict(message_type, body: dict):
    """`body` parsed into a Vertex AI type; unknown fields, bad enums and wrong types fail."""
    return json_format.ParseDict(body, message_type.pb()(), ignore_unknown_fields=False)


def error(code: int, status: str, message: str) -> tuple[int, dict]:
    return code, {"error": {"code": code, "status": status, "message": message}}


class VertexServing:
    """Vertex AI for one project (a request for any other is refused): models with their
    versions, endpoints with their deployed models and traffic, and the custom jobs a test puts
    here (`jobs[id] = CustomJob JSON`). `prediction` answers each instance."""

    def __init__(self, project: str) -> None:
        self.project = project
        self.models: dict[str, list[dict]] = {}  # model id -> its versions, oldest first
        self.endpoints: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.batch_jobs: dict[str, dict] = {}
        self.prediction = {"classes": "Adelie", "probabilities": [0.9, 0.06, 0.04]}
        self._ids = itertools.count(1001)
        self.recorder = RecordingEndpoint()
        self._add_routes()

    # ------------------------------------------------------------ helpers

    def _operation(self, parent: str, response_type: str, response: dict) -> tuple[int, dict]:
        """A finished long-running operation of `parent`, with its response."""
        return 200, {
            "name": f"{parent}/operations/{next(self._ids)}",
            "done": True,
            "response": {"@type": TYPE_URL + response_type, **response},
        }

    @staticmethod
    def _location(match: re.Match) -> str:
        return f"projects/{PROJECT_NUMBER}/locations/{match['region']}"

    def _parsed(self, request: Request, message_type) -> tuple[Any, tuple[int, dict] | None]:
        try:
            return strict(message_type, request.json()), None
        except (json_format.ParseError, ValueError) as err:
            return None, error(400, "INVALID_ARGUMENT", f"invalid {message_type.__name__}: {err}")

    def _version(self, reference: str) -> dict | None:
        """The model version that `projects/.../models/ID[@VERSION]` or `ID[@VERSION]` names;
        without a version, the default one: the first."""
        model_id, _, version = reference.rsplit("/", 1)[-1].partition("@")
        versions = self.models.get(model_id, [])
        if not version:
            return versions[0] if versions else None
        return next((v for v in versions if v["versionId"] == version), None)

    def _endpoint(self, match: re.Match) -> dict | None:
        return self.endpoints.get(urllib.parse.unquote(match["endpoint"]))

    # ------------------------------------------------------------ Model Registry

    def upload_model(self, request: Request, match: re.Match) -> tuple[int, Any]:
        parsed, refused = self._parsed(request, aiplatform_v1.UploadModelRequest)
        if refused:
            return refused
        location = self._location(match)
        body = request.json()
        if parsed.parent_model:
            model_id = parsed.parent_model.rsplit("/", 1)[-1]
            if model_id not in self.models:
                return error(404, "NOT_FOUND", f"parent model {parsed.parent_model} not found")
        else:
            model_id = str(next(self._ids))
            self.models[model_id] = []
        version_id = str(len(self.models[model_id]) + 1)
        name = f"{location}/models/{model_id}"
        self.models[model_id].append(
            {
                **body["model"],
                "name": name,
                "versionId": version_id,
                "supportedDeploymentResourcesTypes": ["DEDICATED_RESOURCES"],
            }
        )
        return self._operation(
            name, "UploadModelResponse", {"model": name, "modelVersionId": version_id}
        )

    def list_models(self, request: Request, match: re.Match) -> tuple[int, Any]:
        models = [versions[0] for versions in self.models.values()]  # the default versions
        return 200, {"models": models} if models else {}

    def get_model(self, request: Request, match: re.Match) -> tuple[int, Any]:
        version = self._version(urllib.parse.unquote(match["model"]))
        if version is None:
            return error(404, "NOT_FOUND", f"model {match['model']} not found")
        return 200, version

    def list_versions(self, request: Request, match: re.Match) -> tuple[int, Any]:
        versions = self.models.get(urllib.parse.unquote(match["model"]))
        if versions is None:
            return error(404, "NOT_FOUND", f"model {match['model']} not found")
        return 200, {"models": versions}

    # ------------------------------------------------------------ endpoints

    def create_endpoint(self, request: Request, match: re.Match) -> tuple[int, Any]:
        _, refused = self._parsed(request, aiplatform_v1.Endpoint)
        if refused:
            return refused
        name = f"{self._location(match)}/endpoints/{next(self._ids)}"
        endpoint = {**request.json(), "name": name, "deployedModels": [], "trafficSplit": {}}
        self.endpoints[name.rsplit("/", 1)[-1]] = endpoint
        return self._operation(name, "Endpoint", endpoint)

    def list_endpoints(self, request: Request, match: re.Match) -> tuple[int, Any]:
        endpoints = list(self.endpoints.values())
        return 200, {"endpoints": endpoints} if endpoints else {}

    def get_endpoint(self, request: Request, match: re.Match) -> tuple[int, Any]:
        endpoint = self._endpoint(match)
        if endpoint is None:
            return error(404, "NOT_FOUND", f"endpoint {match['endpoint']} not found")
        return 200, endpoint

    def deploy_model(self, request: Request, match: re.Match) -> tuple[int, Any]:
        endpoint = self._endpoint(match)
        if endpoint is None:
            return error(404, "NOT_FOUND", f"endpoint {match['endpoint']} not found")
        parsed, refused = self._parsed(request, aiplatform_v1.DeployModelRequest)
        if refused:
            return refused
        deployed = request.json()["deployedModel"]
        version = self._version(deployed["model"])
        if version is None:
            return error(404, "NOT_FOUND", f"model {deployed['model']} not found")
        deployed_id = str(next(self._ids))
        split = {deployed_id if k == "0" else k: v for k, v in parsed.traffic_split.items()}
        if split:
            known = {d["id"] for d in endpoint["deployedModels"]} | {deployed_id}
            if sum(split.values()) != 100 or not set(split) <= known:
                return error(400, "INVALID_ARGUMENT", f"bad traffic split {split}")
            endpoint["trafficSplit"] = {k: v for k, v in split.items() if v}
        elif not endpoint["deployedModels"]:
            endpoint["trafficSplit"] = {deployed_id: 100}
        deployed = {
            **deployed,
            "id": deployed_id,
            "model": version["name"],
            "modelVersionId": version["versionId"],
        }
        endpoint["deployedModels"].append(deployed)
        return self._operation(endpoint["name"], "DeployModelResponse", {"deployedModel": deployed})

    def undeploy_model(self, request: Request, match: re.Match) -> tuple[int, Any]:
        endpoint = self._endpoint(match)
        if endpoint is None:
            return error(404, "NOT_FOUND", f"endpoint {match['endpoint']} not found")
        parsed, refused = self._parsed(request, aiplatform_v1.UndeployModelRequest)
        if refused:
            return refused
        deployed_id = parsed.deployed_model_id
        remaining = [d for d in endpoint["deployedModels"] if d["id"] != deployed_id]
        if len(remaining) == len(endpoint["deployedModels"]):
            return error(404, "NOT_FOUND", f"deployed model {deployed_id} not found")
        split = dict(parsed.traffic_split) or endpoint["trafficSplit"]
        if remaining and split.get(deployed_id):
            return error(
                400,
                "FAILED_PRECONDITION",
                f"deployed model {deployed_id} still has {split[deployed_id]}% of the traffic",
            )
        endpoint["deployedModels"] = remaining
        endpoint["trafficSplit"] = {k: v for k, v in split.items() if v} if remaining else {}
        return self._operation(endpoint["name"], "UndeployModelResponse", {})

    def delete_endpoint(self, request: Request, match: re.Match) -> tuple[int, Any]:
        endpoint = self._endpoint(match)
        if endpoint is None:
            return error(404, "NOT_FOUND", f"endpoint {match['endpoint']} not found")
        if endpoint["deployedModels"]:
            return error(
                400, "FAILED_PRECONDITION", "the endpoint has deployed models: undeploy them first"
            )
        del self.endpoints[endpoint["name"].rsplit("/", 1)[-1]]
        return 200, {
            "name": f"{self._location(match)}/operations/{next(self._ids)}",
            "done": True,
            "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
        }

    def predict(self, request: Request, match: re.Match) -> tuple[int, Any]:
        endpoint = self._endpoint(match)
        if endpoint is None:
            return error(404, "NOT_FOUND", f"endpoint {match['endpoint']} not found")
        parsed, refused = self._parsed(request, aiplatform_v1.PredictRequest)
        if refused:
            return refused
        serving = max(endpoint["trafficSplit"].items(), key=lambda kv: kv[1], default=None)
        if serving is None:
            return error(400, "FAILED_PRECONDITION", "the endpoint has no deployed model")
        (deployed,) = [d for d in endpoint["deployedModels"] if d["id"] == serving[0]]
        return 200, {
            "predictions": [self.prediction for _ in parsed.instances],
            "deployedModelId": deployed["id"],
            "model": deployed["model"],
            "modelVersionId": deployed["modelVersionId"],
        }

    # ------------------------------------------------------------ batch prediction

    def create_batch_job(self, request: Request, match: re.Match) -> tuple[int, Any]:
        headers = {name.lower(): value for name, value in request.headers.items()}
        if headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            return error(401, "UNAUTHENTICATED", "the request has no valid access token")
        parsed, refused = self._parsed(request, aiplatform_v1.BatchPredictionJob)
        if refused:
            return refused
        version = self._version(parsed.model)
        if version is None:
            return error(404, "NOT_FOUND", f"model {parsed.model} not found")
        if not parsed.dedicated_resources.machine_spec.machine_type:
            return error(
                400, "INVALID_ARGUMENT", "this model needs dedicated_resources (a machine type)"
            )
        job_id = str(next(self._ids))
        job = {
            **request.json(),
            "name": f"{self._location(match)}/batchPredictionJobs/{job_id}",
            "state": "JOB_STATE_PENDING",
            "createTime": CREATE_TIME,
        }
        self.batch_jobs[job_id] = job
        return 200, job

    # ------------------------------------------------------------ training jobs

    def get_job(self, request: Request, match: re.Match) -> tuple[int, Any]:
        job = self.jobs.get(match["job"])
        if job is None:
            return error(404, "NOT_FOUND", f"custom job {match['job']} not found")
        return 200, job

    def _in_project(self, responder: Responder) -> Responder:
        def answer(request: Request, match: re.Match) -> tuple[int, Any]:
            if match["project"] not in (self.project, PROJECT_NUMBER):
                return error(403, "PERMISSION_DENIED", f"no access to project {match['project']}")
            return responder(request, match)

        return answer

    def _add_routes(self) -> None:
        def route(method: str, pattern: str, responder: Responder) -> None:
            self.recorder.route(method, pattern, self._in_project(responder))

        endpoint = rf"{LOCATION}/endpoints/(?P<endpoint>[^/:]+)"
        route("POST", rf"{LOCATION}/models:upload", self.upload_model)
        route("GET", rf"{LOCATION}/models", self.list_models)
        route("GET", rf"{LOCATION}/models/(?P<model>[^/:]+)", self.get_model)
        route("GET", rf"{LOCATION}/models/(?P<model>[^/:]+):listVersions", self.list_versions)
        route("POST", rf"{LOCATION}/endpoints", self.create_endpoint)
        route("GET", rf"{LOCATION}/endpoints", self.list_endpoints)
        route("GET", endpoint, self.get_endpoint)
        route("DELETE", endpoint, self.delete_endpoint)
        route("POST", rf"{endpoint}:deployModel", self.deploy_model)
        route("POST", rf"{endpoint}:undeployModel", self.undeploy_model)
        route("POST", rf"{endpoint}:predict", self.predict)
        route("POST", rf"{LOCATION}/batchPredictionJobs", self.create_batch_job)
        route("GET", rf"{LOCATION}/customJobs/(?P<job>[^/]+)", self.get_job)

    # ------------------------------------------------------------ the server

    def start(self) -> VertexServing:
        self.recorder.start()
        return self

    def stop(self) -> None:
        self.recorder.stop()

    @property
    def url(self) -> str:
        return self.recorder.url

    @property
    def requests(self) -> list[Request]:
        return self.recorder.requests
