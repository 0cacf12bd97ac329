"""scripts/submit.sh and scripts/hptune.sh, run by the real gcloud against local endpoints.

One project is rendered, with answers that need quoting, and every tier is submitted from it.
gcloud's api_endpoint_overrides point Vertex AI, Cloud Build and Artifact Registry at one
recording endpoint, and Cloud Storage at a front that answers bucket locations and forwards
the rest to the storage emulator. Each recorded job is parsed strictly into Vertex AI's own
types (google-cloud-aiplatform), then compared with config/tiers.yaml: its pools, its
scheduling (config/cloud.yaml's, the tier's, the run's --spot, --flex-start and --timeout) and
its labels. (Following a job to its result, make wait and make fetch, is in test_jobs.py.)
"""

from __future__ import annotations

import io
import re
import shlex
import shutil
import tarfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from google.cloud import aiplatform_v1
from google.protobuf import json_format

from endpoints import RecordingEndpoint, google_apis_endpoint, storage_with_locations

from conftest import (
    BAD_TUNING_PARAMETERS,
    VENV_BIN,
    choices,
    gcloud_config,
    render,
    run,
    storage_client,
)

pytestmark = pytest.mark.xdist_group("submit")

# The tiers copier offers; test_render.py holds them equal to config/tiers.yaml's keys.
TIERS = choices("scale_tier")
ROLES = ["chief", "workers", "parameter_servers", "evaluators"]
ANSWERS = {"project_name": "Ann's Penguins & Co. (v2)", "gcp_project": "ann-penguins-2"}
# Who submits, as git knows them, and the labels every job of the project carries: the project's
# name, its trainer's commit (the rendered project has none yet, so its files count as changed),
# and the submitter, all lowered to Vertex AI's label characters.
SUBMITTER_EMAIL = "Ann.Lee+ML@Example.com"
PROJECT_LABELS = {
    "project": "ann-s-penguins-co-v2",
    "commit": "none",
    "dirty": "true",
    "submitter": "ann-lee-ml-example-com",
}
DAY = 24 * 3600
# The team's own CUSTOM pools, written over the rendered defaults. Parameter servers and
# evaluators stay at 0 replicas: the trainer runs only chief and worker tasks.
CUSTOM_POOLS = {
    "chief": {"machineType": "n1-highmem-4"},
    "workers": {"machineType": "n1-highmem-4", "replicaCount": 3},
    "parameter_servers": {"machineType": "n1-standard-4", "replicaCount": 0},
    "evaluators": {"machineType": "e2-standard-4", "replicaCount": 0},
}


def strict(message_type, body: dict):
    """`body` parsed into a Vertex AI type; unknown fields, bad enums and wrong types fail."""
    return json_format.ParseDict(body, message_type.pb()(), ignore_unknown_fields=False)


@dataclass
class Cloud:
    project: Path
    env: dict[str, str]
    apis: RecordingEndpoint
    storage: RecordingEndpoint
    settings: dict

    def script(self, name: str, *args: str, check: bool = True):
        """Runs scripts/NAME; returns the result and the requests it sent to each endpoint."""
        apis, storage = len(self.apis.requests), len(self.storage.requests)
        result = run(
            ["bash", f"scripts/{name}", *args], cwd=self.project, env=self.env, check=check
        )
        return result, self.apis.requests[apis:], self.storage.requests[storage:]

    def presets(self) -> dict:
        return yaml.safe_load((self.project / "config/tiers.yaml").read_text())

    @contextmanager
    def edited(self, name: str, change: Callable[[str], str]) -> Iterator[None]:
        """The project's file `name` as change(its text) for the block, then as it was."""
        path = self.project / name
        original = path.read_text()
        path.write_text(change(original))
        try:
            yield
        finally:
            path.write_text(original)

    def pinned_to_prebuilt(self) -> AbstractContextManager[None]:
        """requirements.txt pinned to the prebuilt image's TensorFlow (2.17), as a team that
        chooses the prebuilt path does."""
        return self.edited(
            "requirements.txt",
            lambda text: re.sub(r"^(tensorflow(-cpu)?)==[0-9.]+", r"\1==2.17.1", text, flags=re.M),
        )


@pytest.fixture(scope="module")
def project(template, tmp_path_factory) -> Path:
    project = render(template, tmp_path_factory.mktemp("submit") / "project", **ANSWERS)
    tiers_file = project / "config/tiers.yaml"
    presets = yaml.safe_load(tiers_file.read_text())
    presets["CUSTOM"] = CUSTOM_POOLS
    tiers_file.write_text(yaml.safe_dump(presets, sort_keys=False))
    return project


def read_settings(project: Path) -> dict:
    """What the scripts should use, read here independently: config/cloud.yaml, plus the
    project, region and bucket of config/cloud.mk, and the data that `make stage-data` stages."""
    settings = yaml.safe_load((project / "config/cloud.yaml").read_text())
    made = dict(re.findall(r"^(\w+) \?= (.*)$", (project / "config/cloud.mk").read_text(), re.M))
    settings |= {"project": made["GCP_PROJECT"], "region": made["REGION"], "bucket": made["BUCKET"]}
    return {
        "train_files": [f"gs://{settings['bucket']}/data/train.csv"],
        "eval_files": [f"gs://{settings['bucket']}/data/eval.csv"],
        **settings,
    }


@pytest.fixture(scope="module")
def cloud(project, storage_emulator, tmp_path_factory):
    settings = read_settings(project)
    # The storage emulator behind a proxy that keeps bucket locations; the data is staged.
    storage = storage_with_locations(storage_emulator)
    bucket = storage_client(storage.url).create_bucket(settings["bucket"], location="us-central1")
    for name in ("train.csv", "eval.csv"):
        bucket.blob(f"data/{name}").upload_from_filename(str(project / "data" / name))
    apis = google_apis_endpoint()
    env = gcloud_config(
        tmp_path_factory.mktemp("gcloud"),
        # No project: the scripts give every gcloud command the answers' project themselves.
        {
            "auth/disable_credentials": "True",
            "api_endpoint_overrides/aiplatform": apis.url,
            "api_endpoint_overrides/cloudbuild": apis.url,
            "api_endpoint_overrides/artifactregistry": apis.url,
            "api_endpoint_overrides/storage": f"{storage.url}storage/v1/",
        },
    )
    git_config = tmp_path_factory.mktemp("git") / "gitconfig"
    git_config.write_text(f"[user]\n\temail = {SUBMITTER_EMAIL}\n")
    env |= {
        "STORAGE_EMULATOR_HOST": storage.url.rstrip("/"),
        "PYTHON": str(VENV_BIN / "python"),
        "GIT_CONFIG_GLOBAL": str(git_config),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    yield Cloud(project, env, apis, storage, settings)
    apis.stop()
    storage.stop()


def posts(requests, collection: str) -> list:
    return [r for r in requests if r.method == "POST" and r.path.endswith(f"/{collection}")]


def uploads(requests) -> list:
    return [r for r in requests if r.path.startswith("/upload/")]


def expected_pools(presets: dict, tier: str) -> list[dict]:
    """The tier's pools as Vertex AI orders them, read straight from config/tiers.yaml."""
    pools = []
    for role in ROLES:
        pool = presets[tier].get(role)
        replicas = pool.get("replicaCount", 1) if pool else 0
        pools.append({**pool, "replicaCount": replicas} if replicas else None)
    while pools[-1] is None:
        pools.pop()
    assert None not in pools, f"{tier} skips a pool in the middle"
    return pools


def variant(pools: list[dict]) -> str:
    machines = [pool for pool in pools if pool]
    if any("tpuTopology" in m for m in machines):
        return "tpu"
    return "gpu" if any("acceleratorType" in m for m in machines) else "cpu"


def assert_pools_match(spec, expected: list[dict]) -> None:
    """The parsed CustomJobSpec's pools against the presets."""
    assert len(spec.worker_pool_specs) == len(expected)
    for pool, want in zip(spec.worker_pool_specs, expected, strict=True):
        machine = pool.machine_spec
        assert pool.replica_count == want["replicaCount"]
        assert machine.machine_type == want["machineType"]
        assert aiplatform_v1.AcceleratorType(machine.accelerator_type).name == want.get(
            "acceleratorType", "ACCELERATOR_TYPE_UNSPECIFIED"
        )
        assert machine.accelerator_count == want.get("acceleratorCount", 0)
        assert machine.tpu_topology == want.get("tpuTopology", "")


def assert_trainer_args(args, settings: dict, extra: list[str] = ()) -> None:
    assert list(args) == [
        "--train-files",
        *settings["train_files"],
        "--eval-files",
        *settings["eval_files"],
        *extra,
    ]


# The bound line of each preset under config/cloud.yaml's 24-hour timeout (CUSTOM: this test's
# 4 x n1-highmem-4), as the scripts print it before a submit.
DEFAULT_BOUNDS = {
    "BASIC": "Bound: 1 machine x 24h = 24 machine-hours, 96 vCPU-hours, no GPU or TPU; "
    "STANDARD capacity, timeout 24h",
    "STANDARD_1": "Bound: 5 machines x 24h = 120 machine-hours, 960 vCPU-hours, no GPU or TPU; "
    "STANDARD capacity, timeout 24h",
    "PREMIUM_1": "Bound: 20 machines x 24h = 480 machine-hours, 7,680 vCPU-hours, no GPU or "
    "TPU; STANDARD capacity, timeout 24h",
    "BASIC_GPU": "Bound: 1 machine x 24h = 24 machine-hours, 192 vCPU-hours, 24 GPU-hours "
    "(NVIDIA_TESLA_T4); STANDARD capacity, timeout 24h",
    "BASIC_TPU": "Bound: 1 machine x 24h = 24 machine-hours, 2,688 vCPU-hours, 96 TPU "
    "chip-hours; STANDARD capacity, timeout 24h",
    "CUSTOM": "Bound: 4 machines x 24h = 96 machine-hours, 384 vCPU-hours, no GPU or TPU; "
    "STANDARD capacity, timeout 24h",
}


def assert_scheduling(spec, timeout: int, strategy: str | None = None, max_wait: int = 0) -> None:
    """The parsed CustomJobSpec's scheduling: its timeout and maximum wait in seconds, and its
    strategy (None: left unset, which Vertex AI runs as STANDARD)."""
    scheduling = spec.scheduling
    assert scheduling.timeout.seconds == timeout
    assert scheduling.max_wait_duration.seconds == max_wait
    want = strategy or "STRATEGY_UNSPECIFIED"
    assert aiplatform_v1.Scheduling.Strategy(scheduling.strategy).name == want


def image_tag(image_uri: str) -> str:
    return image_uri.rpartition(":")[2]


@pytest.mark.parametrize("tier", TIERS)
def test_each_tier_sends_a_valid_custom_job(cloud, tier):
    result, sent, _ = cloud.script("submit.sh", tier.lower(), "--poll-seconds", "0")
    (request,) = posts(sent, "customJobs")
    assert request.path == (
        f"/v1/projects/{cloud.settings['project']}/locations/{cloud.settings['region']}/customJobs"
    )
    job = strict(aiplatform_v1.CustomJob, request.json())
    assert job.display_name.startswith(f"{ANSWERS['project_name']} {tier} ")
    assert dict(job.labels) == PROJECT_LABELS | {"tier": tier.lower()}
    spec = job.job_spec
    expected = expected_pools(cloud.presets(), tier)
    assert_pools_match(spec, expected)
    # config/cloud.yaml's timeout, and no strategy: Vertex AI's STANDARD.
    assert_scheduling(spec, timeout=DAY)
    assert f"{DEFAULT_BOUNDS[tier]}\n" in result.stdout
    bucket = cloud.settings["bucket"]
    assert spec.base_output_directory.output_uri_prefix.startswith(f"gs://{bucket}/jobs/")

    container = spec.worker_pool_specs[0].container_spec
    image = (
        f"{cloud.settings['region']}-docker.pkg.dev/{cloud.settings['project']}/"
        f"{cloud.settings['artifact_repository']}/{cloud.settings['image_name']}"
    )
    assert container.image_uri.startswith(f"{image}:")
    assert image_tag(container.image_uri).endswith(f"-{variant(expected)}")
    assert list(container.command) == ["python", "-m", "trainer.task"]
    assert_trainer_args(container.args, cloud.settings)
    for pool in spec.worker_pool_specs[1:]:
        if pool.replica_count:
            assert pool.container_spec == container

    # The image was built by Cloud Build under the very name the job runs, exactly once: the
    # tiers that share an accelerator (BASIC, STANDARD_1, PREMIUM_1, CUSTOM) reuse it.
    builds = [r.json() for r in posts(cloud.apis.requests, "builds")]
    (build,) = [b for b in builds if b["images"] == [container.image_uri]]
    # A build takes tags, not labels: the same, written key.value.
    assert set(build["tags"]) >= {f"{k}.{v}" for k, v in PROJECT_LABELS.items()}
    (step,) = build["steps"]
    assert step["args"] == [
        "build",
        "--build-arg",
        f"TF_VARIANT={variant(expected)}",
        "--tag",
        container.image_uri,
        ".",
    ]
    assert "console: https://console.cloud.google.com/" in result.stdout
    # How to follow the job: the Makefile's targets, with the id Vertex AI gave it.
    job_id = re.search(r"^Submitted projects/.*/customJobs/(\d+)$", result.stdout, re.M)[1]
    for target in ("logs", "wait", "fetch"):
        assert f"  {target}:{' ' * (8 - len(target))}make {target} JOB={job_id}\n" in result.stdout


def test_the_build_context_is_staged_in_the_bucket_without_local_clutter(cloud):
    """gcloud builds submit sends the build context through Cloud Storage, to the bucket's
    staging directory; .gcloudignore lets in exactly what ships: the job package and what the
    Dockerfile installs it with, never the workstation package, data or tests."""
    builds = posts(cloud.apis.requests, "builds")
    assert builds, "no image was built"
    source = builds[0].json()["source"]["storageSource"]
    assert source["bucket"] == cloud.settings["bucket"]
    assert source["object"].startswith("staging/source/")
    client = storage_client(cloud.env["STORAGE_EMULATOR_HOST"])
    tarball = client.bucket(source["bucket"]).blob(source["object"]).download_as_bytes()
    with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
        files = {m.name for m in archive.getmembers() if m.isfile()}
    for needed in (
        "Dockerfile",
        "requirements.txt",
        "setup.py",
        "docker/tensorflow-requirements.sh",
        "trainer/task.py",
        "trainer/model.py",
    ):
        assert needed in files
    top_level = {name.split("/")[0] for name in files}
    assert top_level == {"Dockerfile", "requirements.txt", "setup.py", "docker", "trainer"}


def test_the_prebuilt_path_stages_the_sdist_once(cloud):
    with cloud.pinned_to_prebuilt():
        _, sent, storage = cloud.script("submit.sh", "basic", "--container", "prebuilt")
        _, sent_again, storage_again = cloud.script("submit.sh", "basic", "--container", "prebuilt")
    (request,) = posts(sent, "customJobs")
    assert not posts(sent, "builds")
    spec = strict(aiplatform_v1.CustomJob, request.json()).job_spec
    assert_pools_match(spec, expected_pools(cloud.presets(), "BASIC"))
    package = spec.worker_pool_specs[0].python_package_spec
    assert package.executor_image_uri == cloud.settings["executor_images"]["cpu"]
    assert package.python_module == "trainer.task"
    assert_trainer_args(package.args, cloud.settings)
    (uri,) = package.package_uris
    bucket, _, path = uri.removeprefix("gs://").partition("/")
    assert bucket == cloud.settings["bucket"]
    match = re.fullmatch(r"staging/packages/(?P<hash>[0-9a-f]{12})/(?P<name>[^/]+\.tar\.gz)", path)
    assert match, uri
    local = cloud.project / "build/cloud" / match["hash"] / match["name"]
    client = storage_client(cloud.env["STORAGE_EMULATOR_HOST"])
    assert client.bucket(bucket).blob(path).download_as_bytes() == local.read_bytes()
    assert uploads(storage)

    assert not uploads(storage_again), "an unchanged package was uploaded again"
    (again,) = posts(sent_again, "customJobs")
    assert again.json()["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]["packageUris"] == [
        uri
    ]


def test_the_prebuilt_gpu_tier_runs_the_gpu_image_and_tpu_stays_custom(cloud):
    with cloud.pinned_to_prebuilt():
        _, sent, _ = cloud.script("submit.sh", "BASIC_GPU", "--container", "prebuilt")
    spec = strict(aiplatform_v1.CustomJob, posts(sent, "customJobs")[0].json()).job_spec
    package = spec.worker_pool_specs[0].python_package_spec
    assert package.executor_image_uri == cloud.settings["executor_images"]["gpu"]

    # The TPU tier builds its image whatever TensorFlow the prebuilt images run.
    result, sent, _ = cloud.script(
        "submit.sh", "BASIC_TPU", "--container", "prebuilt", "--poll-seconds", "0"
    )
    spec = strict(aiplatform_v1.CustomJob, posts(sent, "customJobs")[0].json()).job_spec
    assert image_tag(spec.worker_pool_specs[0].container_spec.image_uri).endswith("-tpu")
    assert "BASIC_TPU runs on TPUs: using the custom container" in result.stderr


# Parses each flag of argv[1] with the trainer's parser, beside the other arguments (argv[2:]);
# each must be a hyperparameter (trainer.hparams.HParams).
PARSE_EACH_FLAG = """
import sys
from dataclasses import fields
from trainer.hparams import HParams
from trainer.task import build_parser

base = ["--train-files", "t.csv", "--eval-files", "e.csv", *sys.argv[2:]]
tunable = {field.name.replace("_", "-") for field in fields(HParams)}
for flag in sys.argv[1].split():
    assert flag[2:].split("=")[0] in tunable, flag
    print(flag, vars(build_parser().parse_args([*base, flag])))
"""


def test_hptune_sends_a_valid_tuning_job(cloud):
    _, sent, _ = cloud.script("hptune.sh", "--poll-seconds", "0", "--", "--num-epochs", "3")
    (request,) = posts(sent, "hyperparameterTuningJobs")
    job = strict(aiplatform_v1.HyperparameterTuningJob, request.json())
    assert dict(job.labels) == PROJECT_LABELS | {"tier": "basic"}
    assert_scheduling(job.trial_job_spec, timeout=DAY)
    config = yaml.safe_load((cloud.project / "config/hptuning.yaml").read_text())
    assert job.study_spec == strict(aiplatform_v1.StudySpec, config["studySpec"])
    assert job.study_spec.metrics[0].metric_id == "val_accuracy"
    assert aiplatform_v1.StudySpec.MetricSpec.GoalType(job.study_spec.metrics[0].goal).name == (
        "MAXIMIZE"
    )
    assert job.max_trial_count == config["maxTrialCount"]
    assert job.parallel_trial_count == config["parallelTrialCount"]
    assert job.max_failed_trial_count == config["maxFailedTrialCount"]
    assert_pools_match(job.trial_job_spec, expected_pools(cloud.presets(), "BASIC"))
    container = job.trial_job_spec.worker_pool_specs[0].container_spec
    # Every trial reports the study's metric: the trainer is told which (it ships without config/).
    assert_trainer_args(
        container.args, cloud.settings, ["--num-epochs", "3", "--hypertune-metric=val_accuracy"]
    )

    # Each trial gets --<parameterId>=<value>: the parameter ids are exactly hyperparameter flags,
    # and the trainer's own parser (`python -m trainer.task --help`) takes every end of every
    # range and every listed value, one flag at a time.
    flags = []
    for parameter in job.study_spec.parameters:
        kind = parameter.WhichOneof("parameter_value_spec")
        spec = getattr(parameter, kind)
        listed = kind in ("categorical_value_spec", "discrete_value_spec")
        values = list(spec.values) if listed else [spec.min_value, spec.max_value]
        flags += [f"--{parameter.parameter_id}={value}" for value in values]
    assert {p.parameter_id for p in job.study_spec.parameters} == {
        p["parameterId"] for p in config["studySpec"]["parameters"]
    }
    parsed = run(
        [
            str(VENV_BIN / "python"),
            "-c",
            PARSE_EACH_FLAG,
            " ".join(flags),
            *list(container.args)[-3:],  # --num-epochs 3 --hypertune-metric=val_accuracy
        ],
        cwd=cloud.project,
    )
    assert len(parsed.stdout.splitlines()) == len(flags) >= 4
    assert "'learning_rate': 0.1," in parsed.stdout
    assert "'hypertune_metric': 'val_accuracy'" in parsed.stdout


@pytest.mark.parametrize(
    ("parameter", "message"),
    BAD_TUNING_PARAMETERS,
)
def test_a_bad_tuning_config_is_refused_before_anything_is_sent(cloud, parameter, message):
    path = cloud.project / "config/hptuning.yaml"
    original = path.read_text()
    config = yaml.safe_load(original)
    config["studySpec"]["parameters"] = [parameter]
    path.write_text(yaml.safe_dump(config))
    try:
        refused = cloud.script("hptune.sh", check=False)
    finally:
        path.write_text(original)
    assert_refused(*refused, f"config/hptuning.yaml: {message}")


def test_dry_run_prints_the_exact_command_and_spec_and_sends_nothing(cloud):
    result, sent, storage = cloud.script("submit.sh", "PREMIUM_1", "--dry-run")
    assert sent == [] and storage == []
    lines = result.stdout.splitlines()
    (create,) = [line for line in lines if line.startswith("gcloud ai custom-jobs create ")]
    (build,) = [line for line in lines if line.startswith("gcloud builds submit ")]
    assert "--async" in build.split() and "--gcs-source-staging-dir" in build.split()
    printed_spec = yaml.safe_load("\n".join(lines[lines.index(create) + 1 :]))
    spec = strict(aiplatform_v1.CustomJobSpec, printed_spec)
    assert_pools_match(spec, expected_pools(cloud.presets(), "PREMIUM_1"))

    # The printed command, run as printed, sends exactly the printed spec.
    command = shlex.split(create)
    mark = len(cloud.apis.requests)
    run(command, cwd=cloud.project, env=cloud.env)
    (request,) = posts(cloud.apis.requests[mark:], "customJobs")
    assert strict(aiplatform_v1.CustomJob, request.json()).job_spec == spec
    assert request.json()["displayName"] == command[command.index("--display-name") + 1]


# ---------------------------------------------------------------- capacity, limits and labels

# One run's options, and the scheduling each asks for (seconds; None: no strategy, STANDARD).
RUN_OPTIONS = {
    "--spot --timeout 90m": (["--spot", "--timeout", "90m"], 5400, "SPOT"),
    "--timeout 7d": (["--timeout", "7d"], 7 * DAY, None),
}
# A tier that Dynamic Workload Scheduler serves: the same L4 machine in both pools, with its own
# scheduling (FLEX_START, waiting at most 30 minutes, stopped after 12 hours).
FLEX_TIER = """
FLEX_L4:
  chief: {machineType: g2-standard-8, acceleratorType: NVIDIA_L4, acceleratorCount: 1}
  workers: {machineType: g2-standard-8, acceleratorType: NVIDIA_L4, acceleratorCount: 1,
            replicaCount: 2}
  scheduling: {strategy: FLEX_START, maxWaitDuration: 30m, timeout: 12h}
"""


def hours(value: float) -> str:
    """A number of hours as the bound line writes it: 7,680 or 7.5."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def dry_run_and_send(cloud: Cloud, script: str, *args: str):
    """The script's dry run, then the gcloud command it printed, run as printed: the bound line
    and the body that gcloud sent."""
    result, sent, storage = cloud.script(script, *args, "--dry-run")
    assert sent == [] and storage == []
    lines = result.stdout.splitlines()
    (bound_line,) = [line.removeprefix("# ") for line in lines if line.startswith("# Bound: ")]
    (create,) = [line for line in lines if line.startswith("gcloud ai ")]
    mark = len(cloud.apis.requests)
    run(shlex.split(create), cwd=cloud.project, env=cloud.env)
    (request,) = [r for r in cloud.apis.requests[mark:] if r.method == "POST"]
    return bound_line, request.json()


@pytest.mark.parametrize("options", list(RUN_OPTIONS))
@pytest.mark.parametrize("tier", TIERS)
def test_each_tier_runs_on_the_capacity_and_for_the_time_asked(cloud, tier, options):
    args, timeout, strategy = RUN_OPTIONS[options]
    bound_line, body = dry_run_and_send(cloud, "submit.sh", tier, *args)
    job = strict(aiplatform_v1.CustomJob, body)
    assert dict(job.labels) == PROJECT_LABELS | {"tier": tier.lower()}
    pools = expected_pools(cloud.presets(), tier)
    assert_pools_match(job.job_spec, pools)
    assert_scheduling(job.job_spec, timeout=timeout, strategy=strategy)
    machines = sum(pool["replicaCount"] for pool in pools)
    readable = options.split()[-1]
    assert bound_line.startswith(
        f"Bound: {machines} machine{'s' if machines > 1 else ''} x {readable} = "
        f"{hours(machines * timeout / 3600)} machine-hours, "
    )
    assert bound_line.endswith(f"; {strategy or 'STANDARD'} capacity, timeout {readable}")


@pytest.mark.parametrize("tier", TIERS)
def test_flex_start_on_a_tier_without_its_gpus_is_refused_before_anything_is_sent(cloud, tier):
    has = {"BASIC_GPU": "runs NVIDIA_TESLA_T4"}.get(tier, "has no GPU")
    refused = cloud.script("submit.sh", tier, "--flex-start", check=False)
    assert_refused(
        *refused,
        "FLEX_START (Dynamic Workload Scheduler) serves only NVIDIA_L4, NVIDIA_TESLA_A100, "
        f"NVIDIA_A100_80GB, NVIDIA_H100_80GB, NVIDIA_H100_MEGA_80GB, NVIDIA_H200_141GB, "
        f"NVIDIA_B200; {tier} {has}",
    )


def test_a_tiers_own_scheduling_comes_before_the_projects_and_the_run_before_both(cloud):
    with cloud.edited("config/tiers.yaml", lambda text: text + FLEX_TIER):
        bound_line, body = dry_run_and_send(cloud, "submit.sh", "FLEX_L4")
        waited, waited_body = dry_run_and_send(
            cloud, "submit.sh", "FLEX_L4", "--flex-start", "--max-wait", "2h", "--timeout", "1h"
        )
        _, spot_body = dry_run_and_send(cloud, "submit.sh", "FLEX_L4", "--spot")
    # The tier's: FLEX_START, its 30 minutes' wait and its 12 hours.
    spec = strict(aiplatform_v1.CustomJob, body).job_spec
    assert_scheduling(spec, timeout=12 * 3600, strategy="FLEX_START", max_wait=1800)
    assert bound_line == (
        "Bound: 3 machines x 12h = 36 machine-hours, 288 vCPU-hours, 36 GPU-hours (NVIDIA_L4); "
        "FLEX_START capacity, timeout 12h"
    )
    # The run's options win, field by field.
    spec = strict(aiplatform_v1.CustomJob, waited_body).job_spec
    assert_scheduling(spec, timeout=3600, strategy="FLEX_START", max_wait=7200)
    assert waited.endswith("3 GPU-hours (NVIDIA_L4); FLEX_START capacity, timeout 1h")
    # --spot drops the waiting time, which only FLEX_START has.
    spec = strict(aiplatform_v1.CustomJob, spot_body).job_spec
    assert_scheduling(spec, timeout=12 * 3600, strategy="SPOT")


def test_a_tuning_job_is_bounded_by_its_trial_counts(cloud):
    bound_line, body = dry_run_and_send(
        cloud, "hptune.sh", "BASIC_GPU", "--spot", "--timeout", "2h"
    )
    job = strict(aiplatform_v1.HyperparameterTuningJob, body)
    assert dict(job.labels) == PROJECT_LABELS | {"tier": "basic_gpu"}
    assert_scheduling(job.trial_job_spec, timeout=7200, strategy="SPOT")
    config = yaml.safe_load((cloud.project / "config/hptuning.yaml").read_text())
    trials, parallel = config["maxTrialCount"], config["parallelTrialCount"]
    assert bound_line == (
        f"Bound: {trials} trials x 1 machine x 2h = {2 * trials} machine-hours, "
        f"{16 * trials} vCPU-hours, {2 * trials} GPU-hours (NVIDIA_TESLA_T4) ({parallel} trials, "
        f"{parallel} machines at a time); SPOT capacity, timeout 2h per trial"
    )


def test_the_service_account_tensorboard_and_web_access_reach_the_spec(cloud):
    tensorboard = "projects/ann-penguins-2/locations/us-central1/tensorboards/42"
    account = "trainer@ann-penguins-2.iam.gserviceaccount.com"

    def identity(text: str) -> str:
        return (
            text.replace("service_account: ''", f"service_account: {account}")
            .replace("tensorboard: ''", f"tensorboard: {tensorboard}")
            .replace("enable_web_access: false", "enable_web_access: true")
        )

    with cloud.edited("config/cloud.yaml", identity):
        _, body = dry_run_and_send(cloud, "submit.sh", "BASIC")
    spec = strict(aiplatform_v1.CustomJob, body).job_spec
    assert (spec.service_account, spec.tensorboard) == (account, tensorboard)
    assert spec.enable_web_access is True


def test_labels_name_the_trainers_commit_and_whether_its_files_changed(cloud, tmp_path):
    committed = tmp_path / "committed"
    shutil.copytree(cloud.project, committed, ignore=shutil.ignore_patterns("build", ".git"))
    git = ["git", "-c", "user.name=Ann"]
    run([*git, "init", "-q"], cwd=committed, env=cloud.env)
    run([*git, "add", "-A"], cwd=committed, env=cloud.env)
    run([*git, "commit", "-qm", "v1"], cwd=committed, env=cloud.env)
    head = run(["git", "rev-parse", "HEAD"], cwd=committed).stdout.strip()
    project = Cloud(committed, cloud.env, cloud.apis, cloud.storage, cloud.settings)

    def labels_of_a_dry_run() -> dict:
        _, body = dry_run_and_send(project, "submit.sh", "BASIC")
        return body["labels"]

    assert labels_of_a_dry_run() == PROJECT_LABELS | {
        "tier": "basic",
        "commit": head,
        "dirty": "false",
    }
    # A change beside the trainer (the cloud config) leaves it as committed; one in it does not.
    with project.edited("config/cloud.yaml", lambda text: text + "\n# a note\n"):
        assert labels_of_a_dry_run()["dirty"] == "false"
    with project.edited("trainer/model.py", lambda text: text + "\n# a note\n"):
        assert labels_of_a_dry_run()["dirty"] == "true"


def _add_mixed_tier(text: str) -> str:
    """FLEX_TIER with bigger machines for its workers, under the name FLEX_MIXED."""
    mixed = FLEX_TIER.replace("FLEX_L4", "FLEX_MIXED")
    return text + mixed.replace(
        "workers: {machineType: g2-standard-8", "workers: {machineType: g2-standard-16"
    )


def _set(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert old in text, old
        return text.replace(old, new)

    return change


# What Vertex AI would reject, or what does not parse: (file edited, change, options, message).
REFUSED_SCHEDULING = {
    "pools on different machines": (
        "config/tiers.yaml",
        _add_mixed_tier,
        ["FLEX_MIXED"],
        "FLEX_START needs the same machine in every pool, but FLEX_MIXED has g2-standard-8 + 1 "
        "x NVIDIA_L4; g2-standard-16 + 1 x NVIDIA_L4",
    ),
    "a tensorboard without a service account": (
        "config/cloud.yaml",
        _set("tensorboard: ''", "tensorboard: projects/p/locations/us-central1/tensorboards/7"),
        [],
        "config/cloud.yaml: a tensorboard needs a service_account too",
    ),
    "a duration without a unit": (
        "config/cloud.yaml",
        _set("timeout: 24h", "timeout: 3600"),
        [],
        "config/cloud.yaml: scheduling: timeout: 3600 is not a duration; write it like 90m, "
        "24h, 7d or 3600s",
    ),
    "a duration that does not parse": (
        None,
        None,
        ["--timeout", "2 weeks"],
        "--timeout: '2 weeks' is not a duration; write it like 90m, 24h, 7d or 3600s",
    ),
    "a timeout above 7 days": (
        None,
        None,
        ["--timeout", "8d"],
        "--timeout: 8d is outside Vertex AI's limit: give more than 0s and at most 7d",
    ),
    "a wait without flex-start": (
        None,
        None,
        ["--max-wait", "2h"],
        "--max-wait is how long --flex-start waits for its machines: add it",
    ),
    "a deprecated strategy": (
        "config/cloud.yaml",
        _set("  # strategy: STANDARD", "  strategy: ON_DEMAND"),
        [],
        "config/cloud.yaml: scheduling: strategy ON_DEMAND is deprecated; write STANDARD",
    ),
    "a label outside Vertex AI's rules": (
        "config/cloud.yaml",
        _set("  # team: ml", "  Team: ML"),
        [],
        "config/cloud.yaml: labels: label 'Team' is not a label key: 1-63 lowercase letters",
    ),
    "a label the scripts set": (
        "config/cloud.yaml",
        _set("  # team: ml", "  tier: gold"),
        [],
        "config/cloud.yaml: labels: tier is set by the scripts; name your label otherwise",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED_SCHEDULING))
@pytest.mark.parametrize("script", ["submit.sh", "hptune.sh"])
def test_a_job_vertex_ai_would_reject_is_refused_before_anything_is_sent(cloud, script, case):
    name, change, args, message = REFUSED_SCHEDULING[case]
    with cloud.edited(name, change) if name else nullcontext():
        refused = cloud.script(script, *args, check=False)
    assert_refused(*refused, message)
    assert refused[0].stdout == "", "a bound was printed for a job that is refused"


# ---------------------------------------------------------------- preflight refusals


def assert_refused(result, sent, storage, message: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr
    assert not posts(sent, "customJobs") and not posts(sent, "builds"), "a request was sent"
    assert not posts(sent, "hyperparameterTuningJobs")
    assert not uploads(storage), "something was uploaded"


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("US", "is a multi-region bucket (us); Vertex AI needs a single-region"),
        ("europe-west4", "is in europe-west4, but the job runs in us-central1"),
    ],
)
@pytest.mark.parametrize("container", ["custom", "prebuilt"])
def test_a_bucket_outside_the_region_is_refused(cloud, location, message, container):
    bucket = cloud.settings["bucket"]
    good = cloud.storage.locations[bucket]
    cloud.storage.locations[bucket] = location
    try:
        with cloud.pinned_to_prebuilt() if container == "prebuilt" else nullcontext():
            refused = cloud.script("submit.sh", "--container", container, check=False)
    finally:
        cloud.storage.locations[bucket] = good
    assert_refused(*refused, f"gs://{bucket} {message}")


def test_missing_data_is_refused(cloud):
    missing = f"gs://{cloud.settings['bucket']}/data/missing-*.csv"
    with cloud.pinned_to_prebuilt():
        refused = cloud.script(
            "hptune.sh", "--container", "prebuilt", "--train-files", missing, check=False
        )
    assert_refused(*refused, f"{missing} does not exist: stage the data with `make stage-data`")


def test_a_package_that_does_not_import_is_refused(cloud, tmp_path):
    """A subfolder without __init__.py imports from the source tree, but setup.py's
    find_packages leaves it out of the package: the job would fail at its first import."""
    broken = tmp_path / "broken"
    with cloud.pinned_to_prebuilt():
        shutil.copytree(cloud.project, broken, ignore=shutil.ignore_patterns("build", ".git"))
    (broken / "trainer/extras").mkdir()
    (broken / "trainer/extras/helpers.py").write_text("HELP = 1\n")
    hparams = broken / "trainer/hparams.py"
    hparams.write_text(
        hparams.read_text().replace(
            "from trainer.features",
            "from trainer.extras import helpers  # noqa: F401\nfrom trainer.features",
            1,
        )
    )
    local = run([str(VENV_BIN / "python"), "-m", "trainer.task", "--help"], cwd=broken)
    assert "--train-files" in local.stdout  # it works from the source tree
    for container in ("custom", "prebuilt"):
        refused = Cloud(broken, cloud.env, cloud.apis, cloud.storage, cloud.settings).script(
            "submit.sh", "--container", container, check=False
        )
        assert_refused(*refused, "the trainer package does not work on its own")
        assert "No module named 'trainer.extras'" in refused[0].stderr


def gcloud_lines(output: str) -> list[list[str]]:
    return [shlex.split(line) for line in output.splitlines() if line.startswith("gcloud ")]


@pytest.mark.parametrize("script", ["submit.sh", "hptune.sh"])
@pytest.mark.parametrize("override", [None, "other-project-9"])
def test_a_dry_run_needs_no_gcloud_configuration(cloud, tmp_path, script, override):
    """On a machine whose gcloud was never configured, the dry run prints the answers' project
    (or GCP_PROJECT's, as for make) in the image and in every gcloud command."""
    empty = tmp_path / "gcloud"
    empty.mkdir()
    env = {"CLOUDSDK_CONFIG": str(empty), "PYTHON": cloud.env["PYTHON"]}
    if override:
        env["GCP_PROJECT"] = override
    result = run(["bash", f"scripts/{script}", "BASIC", "--dry-run"], cwd=cloud.project, env=env)
    project = override or ANSWERS["gcp_project"]
    assert list(empty.iterdir()) == [], "the dry run configured gcloud"
    commands = gcloud_lines(result.stdout)
    assert len(commands) == 2  # the image build, then the job
    for command in commands:
        assert command[command.index("--project") + 1] == project, command
    image = f"{cloud.settings['region']}-docker.pkg.dev/{project}/"
    assert f"# 1. Build the image {image}" in result.stdout
    assert f"imageUri: {image}" in result.stdout


def test_gcp_project_in_the_environment_is_where_the_job_goes(cloud):
    """Beside gcloud, which has no project set here, GCP_PROJECT wins over config/cloud.mk."""
    env = cloud.env | {"GCP_PROJECT": "other-project-9"}
    apis = len(cloud.apis.requests)
    result = run(
        ["bash", "scripts/submit.sh", "BASIC", "--poll-seconds", "0"], cwd=cloud.project, env=env
    )
    sent = cloud.apis.requests[apis:]
    (request,) = posts(sent, "customJobs")
    assert request.path.startswith("/v1/projects/other-project-9/locations/")
    assert {r.path.split("/")[3] for r in sent} == {"other-project-9"}
    image = request.json()["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["imageUri"]
    assert image.startswith(f"{cloud.settings['region']}-docker.pkg.dev/other-project-9/")
    assert "--project other-project-9" in result.stdout


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_prebuilt_image_of_another_tensorflow_is_refused(cloud, dry_run):
    """As generated, requirements.txt pins TensorFlow 2.21 and the prebuilt image runs 2.17: the
    job would not run what was tested, so nothing is built, uploaded or sent."""
    pinned = re.search(
        r"^tensorflow-cpu==([0-9.]+)", (cloud.project / "requirements.txt").read_text(), re.M
    )[1]
    image = cloud.settings["executor_images"]["cpu"]
    image_tf = ".".join(re.search(r"/tf-cpu\.(\d+)-(\d+)\.", image).groups())
    assert not pinned.startswith(f"{image_tf}."), "the generated pins agree: nothing to refuse"
    args = ["BASIC", "--container", "prebuilt", *(["--dry-run"] if dry_run else [])]
    refused = cloud.script("submit.sh", *args, check=False)
    assert_refused(
        *refused,
        f"the prebuilt image {image} runs TensorFlow {image_tf}, but requirements.txt pins "
        f"TensorFlow {pinned}",
    )
    result = refused[0]
    assert "use the custom container" in result.stderr
    assert f"pin requirements.txt to the image's TensorFlow {image_tf}" in result.stderr
    assert result.stdout == "", "a dry run printed a plan it would refuse"


@pytest.mark.parametrize("script", ["submit.sh", "hptune.sh"])
def test_both_scripts_run_config_default_tier_when_none_is_given(cloud, script):
    def standard_1(text: str) -> str:
        return re.sub(r"^default_tier: .*$", "default_tier: 'STANDARD_1'", text, flags=re.M)

    with cloud.edited("config/cloud.yaml", standard_1):
        result, sent, storage = cloud.script(script, "--dry-run")
    assert sent == [] and storage == []
    assert result.stdout.startswith("# Dry run: STANDARD_1 on Vertex AI")
    lines = result.stdout.splitlines()
    (create,) = [i for i, line in enumerate(lines) if line.startswith("gcloud ai ")]
    body = yaml.safe_load("\n".join(lines[create + 1 :]))
    spec = body.get("trialJobSpec", body)
    assert_pools_match(
        strict(aiplatform_v1.CustomJobSpec, spec), expected_pools(cloud.presets(), "STANDARD_1")
    )


def test_a_tier_the_team_adds_to_tiers_yaml_is_one_the_scripts_take(cloud):
    added = "\nHIGHMEM_2:\n  chief:\n    machineType: n1-highmem-2\n"
    with cloud.edited("config/tiers.yaml", lambda text: text + added):
        result, _, _ = cloud.script("submit.sh", "highmem_2", "--dry-run")
        presets = cloud.presets()
    assert result.stdout.startswith("# Dry run: HIGHMEM_2 on Vertex AI")
    lines = result.stdout.splitlines()
    (create,) = [i for i, line in enumerate(lines) if line.startswith("gcloud ai ")]
    spec = strict(aiplatform_v1.CustomJobSpec, yaml.safe_load("\n".join(lines[create + 1 :])))
    assert_pools_match(spec, expected_pools(presets, "HIGHMEM_2"))


def test_hptune_help_is_its_own(cloud):
    result, sent, _ = cloud.script("hptune.sh", "--help")
    assert result.stdout.startswith("usage: scripts/hptune.sh ")
    assert "scripts/submit.sh" not in result.stdout
    assert "config/hptuning.yaml" in result.stdout
    assert "--tune" not in result.stdout  # the script passes it itself
    assert sent == []
    submit_help, _, _ = cloud.script("submit.sh", "--help")
    assert submit_help.stdout.startswith("usage: scripts/submit.sh ")


def test_a_goal_against_the_metrics_direction_is_refused(cloud):
    """val_accuracy MINIMIZEd would make Vertex AI search for the worst model."""

    def minimize(text: str) -> str:
        return text.replace("goal: MAXIMIZE", "goal: MINIMIZE")

    with cloud.edited("config/hptuning.yaml", minimize):
        refused = cloud.script("hptune.sh", "--dry-run", check=False)
    assert_refused(
        *refused,
        "config/hptuning.yaml: a higher val_accuracy is better, but the goal is MINIMIZE, "
        "which would rank the worst trial first: set goal: MAXIMIZE",
    )
    assert refused[0].stdout == ""


def test_a_missing_artifact_repository_is_refused(cloud, tmp_path):
    config = cloud.project / "config/cloud.yaml"
    original = config.read_text()
    config.write_text(
        original.replace("artifact_repository: trainers", "artifact_repository: nope")
    )
    try:
        refused = cloud.script("submit.sh", check=False)
    finally:
        config.write_text(original)
    assert_refused(*refused, "the Artifact Registry repository nope in us-central1 cannot be read")
    assert (
        "gcloud artifacts repositories create nope --repository-format=docker" in refused[0].stderr
    )


def test_an_unknown_tier_is_refused(cloud):
    result = run(
        ["bash", "scripts/submit.sh", "BASIC_TPU_POD"],
        cwd=cloud.project,
        env=cloud.env,
        check=False,
    )
    assert result.returncode == 1
    assert "unknown tier 'BASIC_TPU_POD': choose one of BASIC, STANDARD_1" in result.stderr


# ---------------------------------------------------------------- the files behind the scripts


def test_the_dockerfile_passes_hadolint_and_installs_the_one_tensorflow_pin(project):
    run([str(VENV_BIN / "hadolint"), "Dockerfile"], cwd=project)
    dockerfile = (project / "Dockerfile").read_text()
    assert not re.search(r"tensorflow\S*==", dockerfile), "the Dockerfile pins TensorFlow itself"
    assert "COPY requirements.txt" in dockerfile
    requirements = (project / "requirements.txt").read_text()
    pin = re.search(r"^tensorflow-cpu==(\S+?);", requirements, re.M)[1]
    # tensorflow-tpu lags TensorFlow: requirements.txt's `# tpu:` line names the one TPUs get.
    tpu_pin = re.search(r"^# tpu: tensorflow-tpu==(\S+)", requirements, re.M)[1]
    for name, package in (
        ("cpu", f"tensorflow-cpu=={pin}"),
        ("gpu", f"tensorflow[and-cuda]=={pin}"),
        ("tpu", f"tensorflow-tpu=={tpu_pin}"),
    ):
        lines = run(
            ["bash", "docker/tensorflow-requirements.sh", name, "requirements.txt"], cwd=project
        ).stdout.splitlines()
        tensorflow = [line for line in lines if line.startswith("tensorflow")]
        assert tensorflow == [package], lines
        assert "keras==" in "\n".join(lines)


def test_the_scripts_pass_shellcheck(project):
    scripts = sorted(str(p) for p in project.glob("*/*.sh"))
    assert len(scripts) >= 3, scripts
    run([str(VENV_BIN / "shellcheck"), *scripts], cwd=project)


def test_a_bad_executor_image_is_refused(template, tmp_path):
    with pytest.raises(ValueError, match="executor_image: 'tf cpu' is not a container image URI"):
        render(template, tmp_path / "p", container="prebuilt", executor_image="tf cpu")


def test_the_gpu_answer_reaches_the_tier_with_its_machine(template, tmp_path):
    project = render(template, tmp_path / "p", scale_tier="BASIC_GPU", gpu_accelerator="NVIDIA_L4")
    gpu = yaml.safe_load((project / "config/tiers.yaml").read_text())["BASIC_GPU"]["chief"]
    assert gpu == {
        "machineType": "g2-standard-8",
        "acceleratorType": "NVIDIA_L4",
        "acceleratorCount": 1,
    }


def test_answers_that_look_like_yaml_values_stay_text(template, tmp_path):
    project = render(template, tmp_path / "p", bucket="1.50", project_name="Yes")
    loaded = run(
        [
            str(VENV_BIN / "python"),
            "-c",
            "from pathlib import Path; from workflow.cloud.settings import load_settings; "
            "s = load_settings(Path('config'), environ={}); "
            "print(repr((s.bucket, s.display_name, s.train_files)))",
        ],
        cwd=project,
    )
    assert loaded.stdout.strip() == repr(("1.50", "Yes", ("gs://1.50/data/train.csv",)))
