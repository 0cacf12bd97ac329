"""Following a Vertex AI job to its result: make jobs, logs, wait and fetch, and
scripts/submit.sh --wait, run by the real gcloud against a recording endpoint that answers job
states as Vertex AI does (tests/endpoints.py: running, then succeeded; failed with an error
message; cancelled), beside the storage emulator holding the jobs' outputs. Those outputs are
real: the project's own trainer, one epoch on the sample data, so that the fetched model is one
that `make predict` serves.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from endpoints import RecordingEndpoint, google_apis_endpoint, storage_with_locations

from conftest import VENV_BIN, free_port, gcloud_config, render, run, storage_client

pytestmark = pytest.mark.xdist_group("jobs")

ANSWERS = {"project_name": "Ann's Penguins", "gcp_project": "ann-penguins-3"}
PROJECT_LABEL = "ann-s-penguins"  # the project's name as a label value
PARENT = "projects/ann-penguins-3/locations/us-central1"
MAKE_VENV = f"VENV={VENV_BIN.parent}"
FAILURE = (
    "The replica workerpool0-0 exited with a non-zero status of 1. To find out more about why "
    "your job exited please check the logs."
)
RUNNING = {"state": "JOB_STATE_RUNNING"}
SUCCEEDED = {"state": "JOB_STATE_SUCCEEDED"}


@pytest.fixture(scope="module")
def project(template, tmp_path_factory) -> Path:
    return render(template, tmp_path_factory.mktemp("jobs") / "project", **ANSWERS)


@pytest.fixture(scope="module")
def trained(project, tmp_path_factory) -> Path:
    """What a job's trainer leaves in its output directory: metrics.json and model/."""
    job_dir = tmp_path_factory.mktemp("trained") / "job"
    run(
        [
            *(str(VENV_BIN / "python"), "-m", "trainer.task"),
            *("--train-files", "data/train.csv", "--eval-files", "data/eval.csv"),
            *("--job-dir", str(job_dir), "--num-epochs", "1"),
        ],
        cwd=project,
    )
    return job_dir


def outputs_of(trained: Path) -> dict[str, Path]:
    """The trainer's outputs that a job leaves in its bucket, by their path under the job's
    output directory (checkpoints are discarded once the model is exported)."""
    return {
        path.relative_to(trained).as_posix(): path
        for path in sorted(trained.rglob("*"))
        if path.is_file() and path.relative_to(trained).parts[0] in ("metrics.json", "model")
    }


@dataclass
class Follow:
    project: Path
    env: dict[str, str]
    apis: RecordingEndpoint
    bucket: object  # the job bucket, in the storage emulator
    trained: Path

    def make(self, target: str, *settings: str):
        return run(
            ["make", "--silent", target, MAKE_VENV, "POLL_SECONDS=0", *settings],
            cwd=self.project,
            env=self.env,
            check=False,
        )

    def upload_outputs(self, output_dir: str) -> None:
        """Puts the trained outputs where a trainer writing to gs://<bucket>/<output_dir> would."""
        for name, path in outputs_of(self.trained).items():
            self.bucket.blob(f"{output_dir}/{name}").upload_from_filename(str(path))

    def job(
        self,
        course: tuple[dict, ...],
        tuning: dict | None = None,
        created: datetime | None = None,
        **labels: str,
    ) -> str:
        """A job of this project (or of the labels given), with its course of states, as Vertex
        AI holds it. Its outputs go to gs://<bucket>/jobs/<its id>. Returns its id."""
        number = next(self.apis.vertex_jobs.numbers)
        spec = {
            "workerPoolSpecs": [{"machineSpec": {"machineType": "n1-standard-4"}}],
            "baseOutputDirectory": {"outputUriPrefix": f"gs://{self.bucket.name}/jobs/{number}"},
        }
        job = {
            "name": f"{PARENT}/{'hyperparameterTuningJobs' if tuning else 'customJobs'}/{number}",
            "displayName": f"Ann's Penguins BASIC run {number}",
            "state": "JOB_STATE_PENDING",
            "createTime": (created or datetime.now(timezone.utc))
            .isoformat()
            .replace("+00:00", "Z"),
            "labels": {"project": PROJECT_LABEL, "tier": "basic"} | labels,
            **({"trialJobSpec": spec, **tuning} if tuning else {"jobSpec": spec}),
        }
        self.apis.vertex_jobs.jobs[job["name"]] = job
        self.apis.vertex_jobs.courses[job["name"]] = list(course)
        return str(number)

    def advance(self, job_id: str) -> None:
        """Moves a job on to its next state, as time would."""
        (name,) = [n for n in self.apis.vertex_jobs.jobs if n.endswith(f"/{job_id}")]
        self.apis.vertex_jobs.describe(name)


@pytest.fixture(scope="module")
def follow(project, trained, storage_emulator, tmp_path_factory):
    settings = yaml.safe_load((project / "config/cloud.yaml").read_text())
    bucket_name = re.search(r"^BUCKET \?= (.*)$", (project / "config/cloud.mk").read_text(), re.M)[
        1
    ]
    storage = storage_with_locations(storage_emulator)
    bucket = storage_client(storage.url).create_bucket(bucket_name, location="us-central1")
    for name in ("train.csv", "eval.csv"):  # what scripts/submit.sh --wait trains on
        bucket.blob(f"data/{name}").upload_from_filename(str(project / "data" / name))
    apis = google_apis_endpoint((settings["artifact_repository"],))
    env = gcloud_config(
        tmp_path_factory.mktemp("gcloud"),
        {
            "auth/disable_credentials": "True",
            "api_endpoint_overrides/aiplatform": apis.url,
            "api_endpoint_overrides/cloudbuild": apis.url,
            "api_endpoint_overrides/artifactregistry": apis.url,
            "api_endpoint_overrides/logging": apis.url,
            "api_endpoint_overrides/storage": f"{storage.url}storage/v1/",
        },
    )
    env |= {"STORAGE_EMULATOR_HOST": storage.url.rstrip("/"), "PYTHON": str(VENV_BIN / "python")}
    yield Follow(project, env, apis, bucket, trained)
    apis.stop()
    storage.stop()


def test_make_jobs_lists_this_projects_jobs_newest_first(follow):
    now = datetime.now(timezone.utc)
    custom = follow.job((SUCCEEDED,), created=now - timedelta(days=3, hours=1))
    tuning = follow.job(
        (RUNNING,), tuning={"studySpec": {}}, created=now - timedelta(hours=2), tier="basic_gpu"
    )
    other = follow.job((SUCCEEDED,), project="another-project")
    for job_id in (custom, tuning, other):
        follow.advance(job_id)
    result = follow.make("jobs")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "JOB",
        "KIND",
        "STATE",
        "AGE",
        "TIER",
        "SUBMITTER",
        "DISPLAY",
        "NAME",
    ]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert other not in rows, "a job of another project is listed"
    assert rows[custom][1:5] == ["custom", "SUCCEEDED", "3d", "basic"]
    assert rows[tuning][1:5] == ["tuning", "RUNNING", "2h", "basic_gpu"]
    listed = [line.split()[0] for line in lines[1:]]
    assert listed.index(tuning) < listed.index(custom), "not newest first"


def test_wait_follows_a_job_until_it_succeeds(follow):
    job_id = follow.job((RUNNING, RUNNING, SUCCEEDED))
    result = follow.make("wait", f"JOB={job_id}")
    assert result.returncode == 0, result.stderr
    states = re.findall(rf"^job {job_id} \(custom\): (\w+)$", result.stderr, re.M)
    assert states == ["JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]
    assert f"job {job_id} succeeded; outputs in gs://{follow.bucket.name}/jobs/" in result.stdout


@pytest.mark.parametrize(
    ("end", "message"),
    [
        ({"state": "JOB_STATE_FAILED", "error": {"code": 3, "message": FAILURE}}, FAILURE),
        ({"state": "JOB_STATE_CANCELLED", "error": {"code": 1, "message": "CANCELED"}}, "CANCELED"),
    ],
)
@pytest.mark.parametrize("kind", ["custom", "tuning"])
def test_wait_fails_with_the_jobs_own_error(follow, kind, end, message):
    tuning = {"studySpec": {}} if kind == "tuning" else None
    job_id = follow.job((RUNNING, end), tuning=tuning)
    result = follow.make("wait", f"JOB={job_id}")
    assert result.returncode != 0
    state = end["state"].removeprefix("JOB_STATE_")
    assert f"error: job {job_id} ended {state}: {message}\n" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_wait_names_a_job_that_does_not_exist(follow):
    result = follow.make("wait", "JOB=424242")
    assert result.returncode != 0
    assert "error: no job 424242 in us-central1 of project ann-penguins-3" in result.stderr


def test_fetch_brings_the_model_that_make_predict_serves(follow):
    job_id = follow.job((SUCCEEDED,))
    follow.advance(job_id)
    follow.upload_outputs(f"jobs/{job_id}")
    result = follow.make("fetch", f"JOB={job_id}")
    assert result.returncode == 0, result.stderr
    fetched = follow.project / "outputs" / job_id
    for name, path in outputs_of(follow.trained).items():
        assert (fetched / name).read_bytes() == path.read_bytes(), name
    metrics = json.loads((fetched / "metrics.json").read_text())
    printed = ", ".join(f"{name} {value:.4g}" for name, value in metrics.items())
    assert f"Final metrics: {printed}\n" in result.stdout
    assert f"make predict JOB_DIR=outputs/{job_id}" in result.stdout

    predicted = run(
        ["make", "--silent", "predict", MAKE_VENV, f"JOB_DIR=outputs/{job_id}"],
        cwd=follow.project,
        env=follow.env,
    )
    instances = (follow.project / "data/instances.json").read_text().splitlines()
    species = {"Adelie", "Chinstrap", "Gentoo"}
    rows = [line for line in predicted.stdout.splitlines() if line.split()[:1] != ["CLASSES"]]
    assert len(rows) == len([i for i in instances if i.strip()])
    assert all(species & set(re.findall(r"\w+", row)) for row in rows), predicted.stdout


def test_fetch_of_a_tuning_job_takes_the_best_trial_with_the_trial_table(follow):
    def trial(trial_id: str, accuracy: float | None, rate: float) -> dict:
        measured = {
            "finalMeasurement": {"metrics": [{"metricId": "val_accuracy", "value": accuracy}]}
        }
        return {
            "id": trial_id,
            "state": "SUCCEEDED" if accuracy is not None else "INFEASIBLE",
            "parameters": [{"parameterId": "learning-rate", "value": rate}],
            **(measured if accuracy is not None else {}),
        }

    study = {"metrics": [{"metricId": "val_accuracy", "goal": "MAXIMIZE"}], "parameters": []}
    trials = [trial("1", 0.71, 0.1), trial("2", 0.93, 0.01), trial("3", None, 0.5)]
    job_id = follow.job((SUCCEEDED,), tuning={"studySpec": study, "trials": trials})
    follow.advance(job_id)
    follow.upload_outputs(f"jobs/{job_id}/2")  # the best trial's own outputs

    result = follow.make("fetch", f"JOB={job_id}")
    assert result.returncode == 0, result.stderr
    fetched = follow.project / "outputs" / job_id
    assert (fetched / "model/saved_model.pb").is_file()
    assert "Best: trial 2 (val_accuracy 0.93, MAXIMIZE)" in result.stdout
    with (fetched / "trials.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [(row["trial"], row["val_accuracy"], row["learning-rate"]) for row in table] == [
        ("2", "0.93", "0.01"),
        ("1", "0.71", "0.1"),
        ("3", "", "0.5"),
    ]
    printed = [line.split()[:2] for line in result.stdout.splitlines()[:4]]
    assert printed == [
        ["trial", "state"],
        ["2", "SUCCEEDED"],
        ["1", "SUCCEEDED"],
        ["3", "INFEASIBLE"],
    ]


def test_fetch_refuses_a_job_that_has_not_succeeded(follow):
    job_id = follow.job((RUNNING,))
    follow.advance(job_id)
    result = follow.make("fetch", f"JOB={job_id}")
    assert result.returncode != 0
    assert (
        f"error: job {job_id} is JOB_STATE_RUNNING, not SUCCEEDED: nothing to fetch yet "
        f"(make wait JOB={job_id} waits for it)"
    ) in result.stderr
    assert not (follow.project / "outputs" / job_id).exists()


def test_logs_streams_a_custom_jobs_log_and_names_where_a_tuning_jobs_are(follow):
    job_id = follow.job((SUCCEEDED,))
    follow.advance(job_id)
    follow.apis.logs[job_id] = ["Epoch 1/1", "Final evaluation: {'accuracy': 0.9}"]
    result = follow.make("logs", f"JOB={job_id}")
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [(line[0], line[2], line[3]) for line in lines] == [
        ("INFO", "workerpool0-0", "Epoch 1/1"),
        ("INFO", "workerpool0-0", "Final evaluation: {'accuracy': 0.9}"),
    ]

    tuning = follow.job((SUCCEEDED,), tuning={"studySpec": {}})
    result = follow.make("logs", f"JOB={tuning}")
    assert result.returncode != 0
    assert f"error: job {tuning} is a tuning job, and gcloud streams the logs of custom jobs" in (
        result.stderr
    )
    assert f"/training/{tuning}?project=ann-penguins-3" in result.stderr


def test_submit_wait_submits_then_waits_and_fetches(follow):
    """The job's trainer writes its outputs as it ends: the endpoint puts the trained ones in its
    baseOutputDirectory then."""

    def write_outputs(job: dict) -> None:
        prefix = job["jobSpec"]["baseOutputDirectory"]["outputUriPrefix"]
        follow.upload_outputs(prefix.removeprefix(f"gs://{follow.bucket.name}/"))

    follow.apis.vertex_jobs.on_end = write_outputs
    try:
        result = run(
            ["bash", "scripts/submit.sh", "BASIC", "--wait", "--poll-seconds", "0"],
            cwd=follow.project,
            env=follow.env,
        )
    finally:
        follow.apis.vertex_jobs.on_end = None
    job_id = re.search(r"^Submitted projects/.*/customJobs/(\d+)$", result.stdout, re.M)[1]
    assert f"job {job_id} (custom): JOB_STATE_SUCCEEDED" in result.stderr
    assert f"Fetched job {job_id} into outputs/{job_id}/" in result.stdout
    fetched = follow.project / "outputs" / job_id
    assert (fetched / "metrics.json").read_bytes() == (follow.trained / "metrics.json").read_bytes()
    assert (fetched / "model/saved_model.pb").is_file()


def test_submit_wait_fails_with_the_jobs_error(follow):
    follow.apis.vertex_jobs.next_course = (
        RUNNING,
        {"state": "JOB_STATE_FAILED", "error": {"code": 3, "message": FAILURE}},
    )
    try:
        result = run(
            ["bash", "scripts/submit.sh", "BASIC", "--wait", "--poll-seconds", "0"],
            cwd=follow.project,
            env=follow.env,
            check=False,
        )
    finally:
        follow.apis.vertex_jobs.next_course = (RUNNING, SUCCEEDED)
    assert result.returncode == 1
    job_id = re.search(r"^Submitted projects/.*/customJobs/(\d+)$", result.stdout, re.M)[1]
    assert f"error: job {job_id} ended FAILED: {FAILURE}\n" in result.stderr
    assert not (follow.project / "outputs" / job_id).exists()


@pytest.mark.parametrize(
    ("target", "settings"), [("jobs", []), ("wait", ["JOB=123"]), ("fetch", ["JOB=123"])]
)
def test_a_gcloud_failure_is_one_error_line_with_its_cause(project, tmp_path, target, settings):
    """gcloud with an empty configuration: no account. Its message ends in the fix (`gcloud
    config set account ACCOUNT`); its cause comes first, and the one error line carries both.
    Were gcloud to go further, Vertex AI would be a closed local port."""
    env = {
        "CLOUDSDK_CONFIG": str(tmp_path / "empty-gcloud-config"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": f"http://127.0.0.1:{free_port()}/",
    }
    result = run(
        ["make", "--silent", target, MAKE_VENV, *settings], cwd=project, env=env, check=False
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith("error: `gcloud ai custom-jobs "), error
    assert (
        "failed: You do not currently have an active account selected. Please run: "
        "`gcloud auth login` to obtain new credentials."
    ) in error
    assert error.endswith(
        "`gcloud config set account ACCOUNT` to select an already authenticated account to use."
    )
