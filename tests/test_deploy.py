"""scripts/deploy.sh, the cloud prediction and scripts/undeploy.sh, run by the real gcloud
against a local Vertex AI (serving_endpoints.VertexServing) that keeps the models, endpoints
and traffic as Vertex AI does.

The gcloud configuration names no project: every command must carry the answers' project. Each
recorded body is parsed strictly into Vertex AI's own types. No TensorFlow: gcloud only passes
the model's URI on, so the model directories hold a stand-in saved_model.pb in the storage
emulator, which the deploy's preflight looks for.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pytest
import yaml
from google.cloud import aiplatform_v1

from serving_endpoints import VertexServing, strict

# This module's fixture is named gcloud_config: conftest's helper goes by another name here.
from conftest import ROOT, VENV_BIN, copier_config, render, run, storage_client
from conftest import gcloud_config as isolated_gcloud_config

pytestmark = pytest.mark.xdist_group("deploy")

ANSWERS = {
    "project_name": "Serving Penguins",
    "gcp_project": "serve-penguins-1",
    "region": "europe-west4",
}
PROJECT, REGION, SLUG = "serve-penguins-1", "europe-west4", "serving-penguins"
BUCKET = f"{PROJECT}-{SLUG}"
LOCATION = f"/v1/projects/{PROJECT}/locations/{REGION}"
IMAGE = "europe-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
FIRST, SECOND = f"gs://{BUCKET}/jobs/first/model", f"gs://{BUCKET}/jobs/second/model"
# The multi-region host of the prediction images, by the region's first word.
IMAGE_HOSTS = {
    "us": "us",
    "northamerica": "us",
    "southamerica": "us",
    "europe": "europe",
    "me": "europe",
    "africa": "europe",
    "asia": "asia",
    "australia": "asia",
}


@pytest.fixture(scope="module")
def project(template, tmp_path_factory) -> Path:
    return render(template, tmp_path_factory.mktemp("deploy") / "project", **ANSWERS)


@pytest.fixture(scope="module")
def gcloud_config(tmp_path_factory, storage_emulator) -> dict[str, str]:
    """gcloud without credentials and without a project; Cloud Storage is the emulator, whose
    bucket holds the two model directories (a stand-in saved_model.pb each)."""
    bucket = storage_client(storage_emulator).create_bucket(BUCKET)
    for uri in (FIRST, SECOND):
        bucket.blob(f"{uri.split('/', 3)[3]}/saved_model.pb").upload_from_string(b"stand-in")
    env = isolated_gcloud_config(
        tmp_path_factory.mktemp("gcloud"), {"auth/disable_credentials": "True"}
    )
    return env | {"STORAGE_EMULATOR_HOST": storage_emulator, "PYTHON": str(VENV_BIN / "python")}


@dataclass
class Cloud:
    project: Path
    env: dict[str, str]
    vertex: VertexServing

    def command(self, args: list[str], check: bool = True):
        """Runs `args` in the project; returns the result and the requests it sent."""
        mark = len(self.vertex.requests)
        result = run(args, cwd=self.project, env=self.env, check=check)
        return result, self.vertex.requests[mark:]

    def script(self, name: str, *args: str, check: bool = True):
        return self.command(["bash", f"scripts/{name}", *args], check=check)

    def predict(self, *args: str, check: bool = True):
        return self.command(
            [str(VENV_BIN / "python"), "-m", "workflow.serving.predict", *args], check=check
        )

    def endpoint(self) -> dict:
        (endpoint,) = self.vertex.endpoints.values()
        return endpoint


@pytest.fixture
def cloud(project, gcloud_config):
    """A fresh Vertex AI for each test: no model, no endpoint."""
    vertex = VertexServing(PROJECT).start()
    env = gcloud_config | {"CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": vertex.url}
    yield Cloud(project, env, vertex)
    vertex.stop()


def posts(requests, suffix: str) -> list:
    return [r for r in requests if r.method == "POST" and r.path.endswith(suffix)]


def test_the_serving_config_takes_the_prediction_image_nearest_each_region():
    """Every region copier accepts gets a prediction image host; any host serves every region,
    the nearest one pulls fastest."""
    source = (ROOT / "template/config/serving.yaml.jinja").read_text()
    template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(source)
    for region in copier_config()["vertex_regions"]["default"]:
        serving = yaml.safe_load(template.render(region=region, project_slug="p"))
        host = IMAGE_HOSTS[region.split("-")[0]]
        assert serving["image"] == f"{host}-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
        assert serving["gpu"]["image"] == serving["image"].replace("/tf2-cpu.", "/tf2-gpu.")


def test_deploying_a_finished_job_uploads_its_model_and_serves_it(cloud):
    base_output = f"gs://{BUCKET}/jobs/first"
    cloud.vertex.jobs["4242"] = job = {
        "name": f"projects/{PROJECT}/locations/{REGION}/customJobs/4242",
        "displayName": "Serving Penguins BASIC 20261202-101010",
        "state": "JOB_STATE_SUCCEEDED",
        "jobSpec": {
            "workerPoolSpecs": [
                {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1"}
            ],
            "baseOutputDirectory": {"outputUriPrefix": base_output},
        },
    }
    strict(aiplatform_v1.CustomJob, job)  # the stand-in job is one Vertex AI could return

    result, sent = cloud.script("deploy.sh", "--job", "4242")
    assert all(r.path.startswith(f"{LOCATION}/") for r in sent), [r.path for r in sent]
    (upload,) = posts(sent, "/models:upload")
    request = strict(aiplatform_v1.UploadModelRequest, upload.json())
    assert request.parent_model == ""  # the first version of a new model
    assert request.model.display_name == SLUG
    assert request.model.artifact_uri == f"{base_output}/model"
    assert request.model.container_spec.image_uri == IMAGE
    assert dict(request.model.labels) == {"project": SLUG, "training-job": "4242"}

    (create,) = posts(sent, "/endpoints")
    endpoint = strict(aiplatform_v1.Endpoint, create.json())
    assert endpoint.display_name == SLUG
    assert dict(endpoint.labels) == {"project": SLUG}

    (deploy,) = posts(sent, ":deployModel")
    (model_id,) = cloud.vertex.models
    deployed = strict(aiplatform_v1.DeployModelRequest, deploy.json())
    assert deployed.deployed_model.model.endswith(f"/models/{model_id}@1")
    resources = deployed.deployed_model.dedicated_resources
    assert resources.machine_spec.machine_type == "n1-standard-2"
    assert (resources.min_replica_count, resources.max_replica_count) == (1, 1)
    assert resources.machine_spec.accelerator_count == 0
    assert dict(deployed.traffic_split) == {"0": 100}
    assert not posts(sent, ":undeployModel")

    (serving,) = cloud.endpoint()["deployedModels"]
    assert cloud.endpoint()["trafficSplit"] == {serving["id"]: 100}
    assert f"Serving version 1 of model {model_id} ({SLUG})" in result.stdout


def test_a_second_version_takes_all_traffic_and_the_first_is_undeployed(cloud):
    cloud.script("deploy.sh", "--model-dir", FIRST)
    (first,) = cloud.endpoint()["deployedModels"]
    dry, nothing = cloud.script("deploy.sh", "--model-dir", SECOND, "--dry-run")
    assert nothing == []

    result, sent = cloud.script("deploy.sh", "--model-dir", SECOND)
    assert not posts(sent, "/endpoints"), "the endpoint was created again"
    (upload,) = posts(sent, "/models:upload")
    request = strict(aiplatform_v1.UploadModelRequest, upload.json())
    (model_id,) = cloud.vertex.models
    assert request.parent_model == f"projects/{PROJECT}/locations/{REGION}/models/{model_id}"
    assert request.model.artifact_uri == SECOND
    assert dict(request.model.labels) == {"project": SLUG}

    # The new version is deployed with all of the traffic, and only then is the first undeployed.
    (deploy,) = posts(sent, ":deployModel")
    deployed = strict(aiplatform_v1.DeployModelRequest, deploy.json())
    assert deployed.deployed_model.model.endswith(f"/models/{model_id}@2")
    assert dict(deployed.traffic_split) == {"0": 100}
    (undeploy,) = posts(sent, ":undeployModel")
    assert sent.index(undeploy) > sent.index(deploy)
    undeployed = strict(aiplatform_v1.UndeployModelRequest, undeploy.json())
    assert undeployed.deployed_model_id == first["id"]
    (serving,) = cloud.endpoint()["deployedModels"]
    assert serving["modelVersionId"] == "2"
    assert cloud.endpoint()["trafficSplit"] == {serving["id"]: 100}
    assert "Serving version 2 of model" in result.stdout

    # The dry run printed every command that the run sent, with placeholders for what it could
    # not know without asking Vertex AI.
    endpoint_id = cloud.endpoint()["name"].rsplit("/", 1)[1]
    printed = dry.stdout
    for placeholder, value in (
        ("DEPLOYED_MODEL_ID", first["id"]),
        ("MODEL_ID", model_id),
        ("VERSION_ID", "2"),
        ("ENDPOINT_ID", endpoint_id),
    ):
        printed = printed.replace(placeholder, value)
    sent_commands = [line[2:] for line in result.stderr.splitlines() if line.startswith("$ ")]
    assert len(sent_commands) == 6  # list, upload, list, deploy, describe, undeploy
    for command in sent_commands:
        assert command in printed.splitlines(), (command, dry.stdout)


def test_predict_cloud_sends_the_instances_as_one_request_and_prints_a_table(cloud):
    cloud.script("deploy.sh", "--model-dir", FIRST)
    result, sent = cloud.predict()
    (predict,) = posts(sent, ":predict")
    request = strict(aiplatform_v1.PredictRequest, predict.json())
    lines = (cloud.project / "data/instances.json").read_text().splitlines()
    instances = [json.loads(line) for line in lines if line.strip()]
    assert json.loads(predict.body)["instances"] == instances
    assert len(request.instances) == 3
    table = result.stdout.strip().splitlines()
    assert table[0].split() == ["CLASSES", "PROBABILITIES"]
    assert table[1:] == ["Adelie   [0.9, 0.06, 0.04]"] * len(instances)


def test_undeploy_leaves_no_deployed_model_and_can_delete_the_endpoint(cloud):
    cloud.script("deploy.sh", "--model-dir", FIRST)
    (first,) = cloud.endpoint()["deployedModels"]
    # A team split the traffic by hand: a second deployment of version 1 takes half.
    endpoint_id = cloud.endpoint()["name"].rsplit("/", 1)[1]
    cloud.command(
        [
            *("gcloud", "ai", "endpoints", "deploy-model", endpoint_id),
            *("--region", REGION, "--project", PROJECT),
            *("--model", f"{first['model'].rsplit('/', 1)[1]}@1", "--display-name", "by hand"),
            *("--machine-type", "n1-standard-2", f"--traffic-split=0=50,{first['id']}=50"),
        ]
    )
    assert len(cloud.endpoint()["deployedModels"]) == 2

    result, sent = cloud.script("undeploy.sh")
    undeploys = [
        strict(aiplatform_v1.UndeployModelRequest, r.json()) for r in sent if r.method == "POST"
    ]
    assert len(undeploys) == 2
    # The first one still had traffic: it gave it to the one undeployed last.
    assert dict(undeploys[0].traffic_split) == {undeploys[1].deployed_model_id: 100}
    assert cloud.endpoint()["deployedModels"] == []
    assert "Undeployed 2 model(s)" in result.stdout

    refused, sent = cloud.predict(check=False)
    assert refused.returncode == 1 and not posts(sent, ":predict")
    assert f"the endpoint '{SLUG}' in {REGION} of project {PROJECT} has no model deployed" in (
        refused.stderr
    )

    _, sent = cloud.script("undeploy.sh", "--delete-endpoint")
    assert [r.method for r in sent if r.method != "GET"] == ["DELETE"]
    assert cloud.vertex.endpoints == {}
    again, sent = cloud.script("undeploy.sh")
    assert [r.method for r in sent] == ["GET"]
    assert "nothing to undeploy" in again.stdout


def test_the_gpu_variant_serves_on_the_gpu_image_with_its_accelerator(cloud):
    path = cloud.project / "config/serving.yaml"
    original = path.read_text()
    path.write_text(original.replace("enabled: false", "enabled: true"))
    try:
        _, sent = cloud.script("deploy.sh", "--model-dir", FIRST)
    finally:
        path.write_text(original)
    upload = strict(aiplatform_v1.UploadModelRequest, posts(sent, "/models:upload")[0].json())
    assert upload.model.container_spec.image_uri == IMAGE.replace("/tf2-cpu.", "/tf2-gpu.")
    deploy = strict(aiplatform_v1.DeployModelRequest, posts(sent, ":deployModel")[0].json())
    machine = deploy.deployed_model.dedicated_resources.machine_spec
    assert aiplatform_v1.AcceleratorType(machine.accelerator_type).name == "NVIDIA_TESLA_T4"
    assert machine.accelerator_count == 1


@pytest.mark.parametrize(
    "command",
    [
        ["bash", "scripts/deploy.sh", "--job", "4242", "--dry-run"],
        ["bash", "scripts/deploy.sh", "--model-dir", FIRST, "--dry-run"],
        ["bash", "scripts/undeploy.sh", "--delete-endpoint", "--dry-run"],
        [str(VENV_BIN / "python"), "-m", "workflow.serving.predict", "--dry-run"],
    ],
    ids=["deploy-job", "deploy-model-dir", "undeploy", "predict"],
)
def test_a_dry_run_prints_every_command_with_the_project_and_sends_nothing(cloud, command):
    result, sent = cloud.command(command)
    assert sent == []
    printed = [line for line in result.stdout.splitlines() if line.startswith("gcloud ")]
    assert len(printed) >= 2, result.stdout
    for line in printed:
        args = shlex.split(line)
        assert args[args.index("--project") + 1] == PROJECT, line
        assert args[args.index("--region") + 1] == REGION, line
    assert f"in project {PROJECT}, region {REGION}" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model-dir", "outputs/local/model"], "outputs/local/model is not a gs:// URI"),
        (
            ["--model-dir", "gs://someone-elses-bucket/model"],
            f"is not in the project's bucket gs://{BUCKET}",
        ),
        (
            ["--model-dir", f"gs://{BUCKET}/jobs/first"],
            f"gs://{BUCKET}/jobs/first holds no saved_model.pb",
        ),
        (["--job", "4243"], "custom job 4243 is JOB_STATE_RUNNING, not JOB_STATE_SUCCEEDED"),
        (["--job", "9999"], "custom job 9999 not found"),
    ],
)
def test_a_model_that_cannot_be_served_is_refused_before_anything_is_sent(cloud, args, message):
    cloud.vertex.jobs["4243"] = {
        "name": f"projects/{PROJECT}/locations/{REGION}/customJobs/4243",
        "state": "JOB_STATE_RUNNING",
        "jobSpec": {"baseOutputDirectory": {"outputUriPrefix": f"gs://{BUCKET}/jobs/x"}},
    }
    result, sent = cloud.script("deploy.sh", *args, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr
    assert [r for r in sent if not re.search(r"/customJobs/", r.path)] == []


def test_two_endpoints_of_the_projects_name_are_refused_before_any_change(cloud):
    for endpoint_id in ("11", "12"):
        name = f"projects/{PROJECT}/locations/{REGION}/endpoints/{endpoint_id}"
        cloud.vertex.endpoints[endpoint_id] = {"name": name, "displayName": SLUG}
    result, sent = cloud.script("undeploy.sh", check=False)
    assert result.returncode == 1
    assert [r.method for r in sent] == ["GET"]
    assert (
        f"2 endpoints in {REGION} of project {PROJECT} are named '{SLUG}' (11, 12)" in result.stderr
    )
