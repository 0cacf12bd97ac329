"""`make batch-predict` and scripts/batch-predict.sh against a local Vertex AI
(serving_endpoints.VertexServing) and Cloud Storage (the emulator behind a proxy that keeps bucket
locations).

gcloud finds the model and its versions; the job itself goes to Vertex AI's REST API, with the
Application Default Credentials that the test writes (an access token the stand-in requires).
Every job body is parsed strictly into Vertex AI's BatchPredictionJob. A bucket that is not a
single-region one in the job's region is refused before anything reaches Vertex AI.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.cloud import aiplatform_v1

from endpoints import RecordingEndpoint, storage_with_locations
from serving_endpoints import (
    CREATE_TIME,
    PROJECT_NUMBER,
    VertexServing,
    application_default_credentials,
    strict,
)

from conftest import VENV_BIN, gcloud_config, render, run, storage_client

pytestmark = pytest.mark.xdist_group("deploy")

ANSWERS = {
    "project_name": "Batch Penguins",
    "gcp_project": "batch-penguins-1",
    "region": "europe-west4",
}
PROJECT, REGION, SLUG = "batch-penguins-1", "europe-west4", "batch-penguins"
BUCKET = f"{PROJECT}-{SLUG}"
LOCATION = f"/v1/projects/{PROJECT}/locations/{REGION}"
INPUT, OUTPUT = f"gs://{BUCKET}/batch/*.jsonl", f"gs://{BUCKET}/predictions"
# Buckets beside the project's: one multi-region, one in another region.
MULTI_REGION, OTHER_REGION = f"{PROJECT}-multi", f"{PROJECT}-us"
MODEL_ID = "77"


@pytest.fixture(scope="module")
def project(template, tmp_path_factory) -> Path:
    return render(template, tmp_path_factory.mktemp("batch") / "project", **ANSWERS)


@pytest.fixture(scope="module")
def storage(storage_emulator):
    """Cloud Storage with locations: the project's bucket in the region, holding two instance
    files, and two buckets where a batch job must not read or write."""
    proxy = storage_with_locations(storage_emulator)
    client = storage_client(proxy.url)
    bucket = client.create_bucket(BUCKET, location=REGION)
    for name in ("batch/first.jsonl", "batch/second.jsonl"):
        bucket.blob(name).upload_from_string(b'{"island": "Dream"}\n')
    for name, location in ((MULTI_REGION, "EU"), (OTHER_REGION, "us-central1")):
        client.create_bucket(name, location=location).blob("batch/x.jsonl").upload_from_string(b"")
    yield proxy
    proxy.stop()


@dataclass
class Cloud:
    project: Path
    env: dict[str, str]
    vertex: VertexServing
    storage: RecordingEndpoint

    def batch(self, *args: str, check: bool = True):
        """Runs scripts/batch-predict.sh; returns the result and what reached Vertex AI."""
        mark = len(self.vertex.requests)
        result = run(
            ["bash", "scripts/batch-predict.sh", *args], cwd=self.project, env=self.env, check=check
        )
        return result, self.vertex.requests[mark:]

    def register_model(self, versions: int = 2) -> None:
        """The project's model in the Model Registry, as scripts/deploy.sh leaves it."""
        name = f"projects/{PROJECT_NUMBER}/locations/{REGION}/models/{MODEL_ID}"
        self.vertex.models[MODEL_ID] = [
            {
                "name": name,
                "displayName": SLUG,
                "versionId": str(version),
                "artifactUri": f"gs://{BUCKET}/jobs/{version}/model",
            }
            for version in range(1, versions + 1)
        ]


@pytest.fixture
def cloud(project, storage, tmp_path):
    vertex = VertexServing(PROJECT).start()
    env = {
        **gcloud_config(tmp_path / "gcloud", {"auth/disable_credentials": "True"}),
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": vertex.url,
        "STORAGE_EMULATOR_HOST": storage.url.rstrip("/"),
        "GOOGLE_APPLICATION_CREDENTIALS": str(
            application_default_credentials(tmp_path / "adc.json")
        ),
        "PYTHON": str(VENV_BIN / "python"),
    }
    yield Cloud(project, env, vertex, storage)
    vertex.stop()


def sent_job(requests) -> tuple[dict, aiplatform_v1.BatchPredictionJob]:
    (post,) = [r for r in requests if r.method == "POST"]
    assert post.path == f"{LOCATION}/batchPredictionJobs"
    return post.json(), strict(aiplatform_v1.BatchPredictionJob, post.json())


def test_make_batch_predict_runs_the_newest_version_and_says_where_results_land(cloud):
    cloud.register_model(versions=2)
    result = run(
        [
            *("make", "--silent", "batch-predict", f"VENV={VENV_BIN.parent}"),
            *(f"INPUT={INPUT}", f"OUTPUT={OUTPUT}"),
        ],
        cwd=cloud.project,
        env=cloud.env,
    )
    sent = cloud.vertex.requests
    assert all(r.path.startswith(f"{LOCATION}/") for r in sent), [r.path for r in sent]
    _, job = sent_job(sent)
    assert job.model == f"projects/{PROJECT}/locations/{REGION}/models/{MODEL_ID}@2"
    assert job.display_name.startswith(f"{SLUG} batch ")
    assert job.input_config.instances_format == "jsonl"
    assert list(job.input_config.gcs_source.uris) == [INPUT]
    assert job.output_config.predictions_format == "jsonl"
    assert job.output_config.gcs_destination.output_uri_prefix == OUTPUT
    resources = job.dedicated_resources
    assert resources.machine_spec.machine_type == "n1-standard-2"
    assert resources.machine_spec.accelerator_count == 0
    assert (resources.starting_replica_count, resources.max_replica_count) == (1, 1)
    assert dict(job.labels) == {"project": SLUG}

    (job_id,) = cloud.vertex.batch_jobs
    assert f"Created batch prediction job {job_id} ({job.display_name}): version 2 of model" in (
        result.stdout
    )
    stamp = CREATE_TIME[: len("2026-12-02T10:11:12.345")] + "Z"
    assert f"  results:   {OUTPUT}/prediction-{SLUG}-{stamp}/predictions_0001.jsonl" in (
        result.stdout
    )
    assert f"/locations/{REGION}/batch-predictions/{job_id}?project={PROJECT}" in result.stdout


def test_the_dry_run_prints_the_lookups_and_the_body_and_sends_nothing(cloud):
    cloud.register_model(versions=3)
    storage_mark = len(cloud.storage.requests)
    dry, nothing = cloud.batch("--input", INPUT, "--dry-run")
    assert nothing == []
    assert cloud.storage.requests[storage_mark:] == []
    assert f"in project {PROJECT}, region {REGION}" in dry.stdout

    result, sent = cloud.batch("--input", INPUT)
    body, _ = sent_job(sent)
    # The body printed is the one sent, but for what only Vertex AI knows and the time.
    printed = dry.stdout.replace("MODEL_ID", MODEL_ID).replace("VERSION_ID", "3")
    post_line = f"POST {cloud.vertex.url.rstrip('/')}{LOCATION}/batchPredictionJobs"
    assert post_line in printed.splitlines()
    shown = json.loads(printed[printed.index(post_line) + len(post_line) :])
    assert shown.pop("displayName").startswith(f"{SLUG} batch ")
    assert shown == {k: v for k, v in body.items() if k != "displayName"}
    assert shown["outputConfig"]["gcsDestination"]["outputUriPrefix"] == (
        f"gs://{BUCKET}/batch-predictions"
    )
    # ... and so is every gcloud command it ran.
    ran = [line[2:] for line in result.stderr.splitlines() if line.startswith("$ gcloud ")]
    assert len(ran) == 2, result.stderr  # the model, its versions
    for command in ran:
        assert command in printed.splitlines()
        args = shlex.split(command)
        assert args[args.index("--project") + 1] == PROJECT


def test_the_gpu_variant_attaches_its_accelerator_to_the_batch_machines(cloud):
    path = cloud.project / "config/serving.yaml"
    original = path.read_text()
    path.write_text(original.replace("enabled: false", "enabled: true"))
    try:
        dry, _ = cloud.batch("--input", INPUT, "--dry-run")
    finally:
        path.write_text(original)
    shown = json.loads(dry.stdout[dry.stdout.index("{") :])
    machine = strict(aiplatform_v1.BatchPredictionJob, shown).dedicated_resources.machine_spec
    assert aiplatform_v1.AcceleratorType(machine.accelerator_type).name == "NVIDIA_TESLA_T4"
    assert machine.accelerator_count == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--input", f"gs://{MULTI_REGION}/batch/*.jsonl"],
            f"gs://{MULTI_REGION} is a multi-region bucket (eu)",
        ),
        (
            ["--input", INPUT, "--output", f"gs://{OTHER_REGION}/out"],
            f"gs://{OTHER_REGION} is in us-central1, but the job runs in {REGION}",
        ),
        (
            ["--input", f"gs://{PROJECT}-nowhere/a.jsonl"],
            f"gs://{PROJECT}-nowhere does not exist; create it in {REGION}",
        ),
        (
            ["--input", f"gs://{BUCKET}/batch/*.json"],
            f"the input gs://{BUCKET}/batch/*.json matches no file in Cloud Storage",
        ),
        (["--input", "data/instances.json"], "the input data/instances.json is not a gs:// URI"),
        (
            ["--input", f"gs://{BUCKET}/data/eval.csv"],
            "is a CSV file, but the job reads JSON Lines",
        ),
        (["--input", INPUT, "--output", "gs://Bad_Bucket/x"], "'Bad_Bucket' is not a valid bucket"),
    ],
    ids=["multi-region", "other-region", "no-bucket", "no-file", "local", "csv", "bad-name"],
)
def test_input_or_output_the_job_cannot_use_is_refused_before_vertex_ai_hears_of_it(
    cloud, args, message
):
    cloud.register_model()
    result, sent = cloud.batch(*args, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr
    assert sent == []


def test_a_multi_region_output_names_the_region_to_use(cloud):
    result, _ = cloud.batch("--input", INPUT, "--output", f"gs://{MULTI_REGION}/out", check=False)
    assert (
        f"A batch prediction job in {REGION} reads its input and writes its output there too: "
        f"use a single-region bucket in {REGION}, such as the project's gs://{BUCKET}."
    ) in result.stderr


def test_without_a_registered_model_nothing_is_created(cloud):
    result, sent = cloud.batch("--input", INPUT, check=False)
    assert result.returncode == 1
    assert [r.method for r in sent] == ["GET"]
    assert (
        f"no model named '{SLUG}' in the Model Registry in {REGION} of project {PROJECT}: "
        "upload one first with scripts/deploy.sh"
    ) in result.stderr


def test_without_application_default_credentials_it_says_how_to_log_in(cloud):
    cloud.register_model()
    del cloud.env["GOOGLE_APPLICATION_CREDENTIALS"]
    cloud.env["NO_GCE_CHECK"] = "True"  # no metadata server to ask, as on a workstation
    result, sent = cloud.batch("--input", INPUT, check=False)
    assert result.returncode == 1
    assert not [r for r in sent if r.method == "POST"]
    assert "run `gcloud auth application-default login`" in result.stderr, result.stderr
