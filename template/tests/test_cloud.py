"""The cloud side's logic, without the cloud: the tier presets, the tuning config, the job specs,
the steps of a submit and the package hash. (The template's own tests send these through the
real gcloud.)"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from trainer.features import SCHEMA
from trainer.trial import TUNING_METRICS
from workflow.cloud import hptuning, job_data, jobspec, package, preflight, submit, tiers
from workflow.cloud.settings import JOB_SETTINGS, ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent
TIERS_FILE = ROOT / "config/tiers.yaml"
# The tiers are the keys of config/tiers.yaml, whatever the team has made them.
TIER_NAMES = list(tiers.load_tiers(TIERS_FILE))


@pytest.fixture(scope="module")
def presets() -> dict:
    return tiers.load_tiers(TIERS_FILE)


@pytest.mark.parametrize("tier", TIER_NAMES)
def test_every_tier_makes_pools_with_one_chief(presets, tier):
    pools = tiers.worker_pools(presets, tier)
    assert pools[0]["replicaCount"] == 1
    assert all(pool["machineSpec"]["machineType"] for pool in pools)


def test_the_accelerator_picks_the_tensorflow_build(presets):
    kinds = {tier: tiers.accelerator_kind(tiers.worker_pools(presets, tier)) for tier in TIER_NAMES}
    assert kinds["BASIC_GPU"] == "gpu"
    assert kinds["BASIC_TPU"] == "tpu"
    assert {kinds[t] for t in ("BASIC", "STANDARD_1", "PREMIUM_1")} == {"cpu"}


def test_the_presets_use_no_parameter_servers(presets):
    for tier in ("BASIC", "STANDARD_1", "PREMIUM_1", "BASIC_GPU", "BASIC_TPU"):
        assert len(tiers.worker_pools(presets, tier)) <= 2, tier


def test_tier_names_are_case_insensitive_and_checked(presets):
    assert tiers.tier_name(presets, "basic_gpu") == "BASIC_GPU"
    with pytest.raises(ConfigError, match="unknown tier 'premium_2': choose one of BASIC"):
        tiers.tier_name(presets, "premium_2")


def test_a_tier_added_to_the_file_is_one_the_scripts_take(tmp_path):
    path = tmp_path / "tiers.yaml"
    path.write_text(
        TIERS_FILE.read_text() + "\nHIGHMEM_2:\n  chief:\n    machineType: n1-highmem-2\n"
    )
    added = tiers.load_tiers(path)
    assert tiers.tier_name(added, "highmem_2") == "HIGHMEM_2"
    assert tiers.worker_pools(added, "HIGHMEM_2")[0]["machineSpec"] == {
        "machineType": "n1-highmem-2"
    }
    path.write_text("Big Tier:\n  chief:\n    machineType: n1-highmem-2\n")
    with pytest.raises(ConfigError, match=r"tier names are upper-case .* not Big Tier"):
        tiers.load_tiers(path)


@pytest.mark.parametrize(
    ("pools", "message"),
    [
        ({"workers": {"machineType": "n1-standard-4"}}, "needs a chief pool"),
        ({"chief": {"machineType": "n1-standard-4", "replicaCount": 2}}, "must be 1"),
        ({"chief": {"machineType": "n1-standard-4", "gpu": "T4"}}, "unknown gpu"),
        ({"chief": {"acceleratorType": "NVIDIA_L4"}}, "needs a machineType"),
        (
            {"chief": {"machineType": "g2-standard-8", "acceleratorType": "NVIDIA_L4"}},
            "acceleratorType and acceleratorCount go together",
        ),
        (
            {
                "chief": {"machineType": "n1-standard-4"},
                "evaluators": {"machineType": "n1-standard-4"},
            },
            "give workers a replica, or drop evaluators",
        ),
        (
            {
                "chief": {"machineType": "n1-standard-4"},
                "workers": {"machineType": "n1-standard-4"},
                "parameter_servers": {"machineType": "n1-standard-4"},
            },
            "runs only chief and worker tasks",
        ),
    ],
)
def test_a_bad_custom_tier_is_refused(presets, pools, message):
    with pytest.raises(ConfigError, match=message):
        tiers.worker_pools({**presets, "CUSTOM": pools}, "CUSTOM")


def test_a_tier_may_set_its_own_scheduling(presets):
    nightly = {"chief": {"machineType": "n1-standard-4"}, "scheduling": {"strategy": "SPOT"}}
    added = {**presets, "NIGHTLY": nightly}
    assert len(tiers.worker_pools(added, "NIGHTLY")) == 1
    assert tiers.tier_scheduling(added, "NIGHTLY") == (
        "config/tiers.yaml: NIGHTLY.scheduling",
        {"strategy": "SPOT"},
    )
    with pytest.raises(ConfigError, match="unknown pool schedule"):
        tiers.worker_pools({**presets, "NIGHTLY": {**nightly, "schedule": {}}}, "NIGHTLY")


def test_every_pool_runs_the_trainer_and_outputs_go_to_the_base_directory(presets):
    pools = tiers.worker_pools(presets, "STANDARD_1")
    args = jobspec.trainer_args(["gs://b/train.csv"], ["gs://b/eval.csv"], ["--num-epochs", "2"])
    runner = jobspec.container_runner("region-docker.pkg.dev/p/r/i:tag", args)
    job_fields = {
        "scheduling": {"timeout": "3600s"},
        "serviceAccount": "sa@p.iam.gserviceaccount.com",
    }
    spec = jobspec.custom_job_spec(pools, runner, "gs://b/jobs/1", job_fields)
    assert {key: spec[key] for key in job_fields} == job_fields
    assert [pool["containerSpec"] for pool in spec["workerPoolSpecs"]] == [
        runner["containerSpec"]
    ] * len(pools)
    assert spec["workerPoolSpecs"][0]["containerSpec"]["args"][-2:] == ["--num-epochs", "2"]
    assert spec["baseOutputDirectory"] == {"outputUriPrefix": "gs://b/jobs/1"}
    # Each pool holds its own copy, so that the YAML file has no anchors.
    assert "&" not in yaml.safe_dump(spec)


def test_the_tuning_config_tunes_trainer_flags():
    config = hptuning.load(ROOT / hptuning.DEFAULT_PATH)
    ids = {p["parameterId"] for p in config["studySpec"]["parameters"]}
    assert ids <= hptuning.tunable_flags() <= hptuning.trainer_flags()
    assert "learning-rate" in ids
    assert "job-dir" not in hptuning.tunable_flags()
    counts = hptuning.trial_counts(config)
    assert counts["parallelTrialCount"] <= counts["maxTrialCount"]
    metric = config["studySpec"]["metrics"][0]["metricId"]
    assert hptuning.trial_args(config, ["--num-epochs", "3"]) == [
        "--num-epochs",
        "3",
        f"--hypertune-metric={metric}",
    ]
    with pytest.raises(ConfigError, match="--learning-rate is set for each trial"):
        hptuning.trial_args(config, ["--learning-rate=0.1"])


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        (
            {"parameterId": "learning_rate", "doubleValueSpec": {"minValue": 0.1, "maxValue": 1}},
            "'learning_rate' is not a hyperparameter flag of the trainer; use one of batch-size,",
        ),
        (
            {"parameterId": "job-dir", "categoricalValueSpec": {"values": ["a", "b"]}},
            "'job-dir' is not a hyperparameter flag of the trainer",
        ),
        (
            {"parameterId": "dropout", "doubleValueSpec": {"minValue": 0.5, "maxValue": 0.1}},
            r"minValue \(0.5\) must be below maxValue \(0.1\)",
        ),
        (
            {
                "parameterId": "learning-rate",
                "doubleValueSpec": {"minValue": 0, "maxValue": 0.1},
                "scaleType": "UNIT_LOG_SCALE",
            },
            "a log scale needs a range above 0, but minValue is 0",
        ),
        (
            {"parameterId": "batch-size", "integerValueSpec": {"minValue": 8.5, "maxValue": 64}},
            "minValue and maxValue must be whole numbers",
        ),
        (
            {"parameterId": "dropout", "doubleValueSpec": {"minValue": 0, "maxValue": 1}},
            r"the trainer refuses --dropout=1 \(must be in \[0, 1\), not 1\)",
        ),
        (
            {"parameterId": "model-type", "categoricalValueSpec": {"values": ["dnn", "cnn"]}},
            "the trainer refuses --model-type=cnn; choose from linear, dnn, wide_deep",
        ),
    ],
)
def test_a_bad_tuning_config_is_refused(tmp_path, parameter, message):
    assert_study_refused(tmp_path, "parameters", [parameter], message)


def assert_study_refused(tmp_path, key: str, value: list, message: str) -> None:
    """The project's tuning config, with the study's `key` set to `value`, is refused."""
    config = yaml.safe_load((ROOT / hptuning.DEFAULT_PATH).read_text())
    config["studySpec"][key] = value
    path = tmp_path / "hptuning.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=message):
        hptuning.load(path)


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ({"metricId": "val_auc", "goal": "MAXIMIZE"}, "metric 'val_auc' is not one the trainer"),
        ({"metricId": "val_loss", "goal": "LOWER"}, "needs a goal, MAXIMIZE or MINIMIZE"),
    ],
)
def test_a_metric_the_trainer_cannot_report_is_refused(tmp_path, metric, message):
    assert_study_refused(tmp_path, "metrics", [metric], message)


def _with_metric(tmp_path: Path, metric: dict) -> Path:
    config = yaml.safe_load((ROOT / hptuning.DEFAULT_PATH).read_text())
    config["studySpec"]["metrics"] = [metric]
    path = tmp_path / "hptuning.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_every_reported_metric_has_a_direction():
    for metrics in TUNING_METRICS.values():
        for metric_id in metrics:
            assert hptuning.metric_goal(metric_id) in hptuning.GOALS, metric_id
    assert hptuning.metric_goal("val_rmse") == hptuning.metric_goal("val_loss") == "MINIMIZE"
    assert hptuning.metric_goal("val_accuracy") == hptuning.metric_goal("val_auc") == "MAXIMIZE"
    assert hptuning.metric_goal("val_mean_absolute_error") == "MINIMIZE"


@pytest.mark.parametrize("metric_id", TUNING_METRICS[SCHEMA.task_type])
def test_a_goal_against_the_metrics_direction_is_refused(tmp_path, metric_id):
    """The opposite goal would rank the worst trial first, locally and on Vertex AI."""
    right = hptuning.metric_goal(metric_id)
    wrong = "MAXIMIZE" if right == "MINIMIZE" else "MINIMIZE"
    better = "lower" if right == "MINIMIZE" else "higher"
    config = hptuning.load(_with_metric(tmp_path, {"metricId": metric_id, "goal": right}))
    assert hptuning.metric(config) == (metric_id, right)
    with pytest.raises(
        ConfigError,
        match=f"a {better} {metric_id} is better, but the goal is {wrong}, which would rank "
        f"the worst trial first: set goal: {right}",
    ):
        hptuning.load(_with_metric(tmp_path, {"metricId": metric_id, "goal": wrong}))


def test_a_metric_of_the_other_task_type_is_refused(tmp_path):
    (other,) = set(TUNING_METRICS) - {SCHEMA.task_type}
    metric_id = TUNING_METRICS[other][0]
    goal = hptuning.metric_goal(metric_id)
    with pytest.raises(
        ConfigError,
        match=f"metric '{metric_id}' is not one the trainer reports for {SCHEMA.task_type}",
    ):
        hptuning.load(_with_metric(tmp_path, {"metricId": metric_id, "goal": goal}))


@pytest.fixture
def settings():
    return load_settings(ROOT / "config", environ={})


def _with_data(root: Path, *names: str) -> Path:
    """A project folder whose data/ holds `names`, as `make prepare` writes them."""
    (root / "data").mkdir()
    for name in names:
        (root / "data" / name).write_text("a,b\n1,2\n")
    return root


def test_the_job_reads_the_staged_shards_and_the_runs_own_arguments(tmp_path, settings):
    shards = [f"train-{i:05d}-of-00004.csv" for i in range(4)]
    root = _with_data(tmp_path, *shards, "eval.csv")
    run_args = ["--num-epochs", "3"]
    data = job_data.choose(root, settings, [{"replicaCount": 1}], trainer_args=run_args)
    assert data.train_files == [f"gs://{settings.bucket}/data/train-*-of-00004.csv"]
    assert data.eval_files == [f"gs://{settings.bucket}/data/eval.csv"]
    assert data.trainer_args == run_args == ["--num-epochs", "3"]


def test_files_given_to_the_run_win_over_the_staged_data(tmp_path, settings):
    root = _with_data(tmp_path, "train.csv", "eval.csv")
    data = job_data.choose(root, settings, [{"replicaCount": 1}], train_files=["gs://b/t.csv"])
    assert (data.train_files, data.eval_files) == (
        ["gs://b/t.csv"],
        [f"gs://{settings.bucket}/data/eval.csv"],
    )


def test_a_stats_file_that_does_not_fit_is_left_out_with_a_warning(tmp_path, settings, capsys):
    root = _with_data(tmp_path, "train.csv", "eval.csv", "stats.json")
    data = job_data.choose(root, settings, [{"replicaCount": 1}])
    assert "--stats-file" not in data.trainer_args
    assert "warning: not passing data/stats.json to the job: " in capsys.readouterr().err
    own = ["--stats-file=gs://b/stats.json"]
    assert job_data.choose(root, settings, [{}], trainer_args=own).trainer_args == own
    assert capsys.readouterr().err == "", "the run's own stats file needs no check"


def test_more_machines_than_training_files_draws_a_warning(tmp_path, settings, capsys):
    root = _with_data(tmp_path, "train.csv", "eval.csv")
    job_data.choose(root, settings, [{"replicaCount": 1}, {"replicaCount": 3}])
    err = capsys.readouterr().err
    assert "the tier runs 4 machines on 1 training file(s)" in err
    assert "make prepare SHARDS=4 && make stage-data" in err
    job_data.choose(root, settings, [{"replicaCount": 4}], train_files=["gs://b/t-*.csv"])
    assert capsys.readouterr().err == "", "a pattern's files are not counted here"


def test_tpus_take_the_custom_container_whatever_was_asked(capsys):
    assert submit.container_for("prebuilt", "TPU_TIER", "tpu") == "custom"
    assert "TPU_TIER runs on TPUs: using the custom container" in capsys.readouterr().err
    assert submit.container_for("prebuilt", "GPU_TIER", "gpu") == "prebuilt"
    assert submit.container_for("custom", "TPU_TIER", "tpu") == "custom"
    assert capsys.readouterr().err == ""


def test_each_trial_runs_the_data_the_runs_arguments_then_the_studys_metric():
    tuning = hptuning.load(ROOT / hptuning.DEFAULT_PATH)
    data = job_data.JobData(["gs://b/train.csv"], ["gs://b/eval.csv"], ["--stats-file", "s.json"])
    files = ["--train-files", "gs://b/train.csv", "--eval-files", "gs://b/eval.csv"]
    assert submit.job_trainer_args(data, None) == [*files, "--stats-file", "s.json"]
    metric_id, _ = hptuning.metric(tuning)
    assert submit.job_trainer_args(data, tuning) == [
        *files,
        *("--stats-file", "s.json"),
        f"--{hptuning.METRIC_FLAG}={metric_id}",
    ]
    tuned = tuning["studySpec"]["parameters"][0]["parameterId"]
    with pytest.raises(ConfigError, match=f"--{tuned} is set for each trial by the tuning config"):
        submit.job_trainer_args(replace(data, trainer_args=[f"--{tuned}=1"]), tuning)


def test_the_settings_read_cloud_mk_with_the_environment_first():
    settings = load_settings(ROOT / "config", environ={})
    assert settings.default_tier in TIER_NAMES
    assert settings.train_files == (f"gs://{settings.bucket}/data/train.csv",)
    assert settings.eval_files == (f"gs://{settings.bucket}/data/eval.csv",)
    moved = load_settings(ROOT / "config", environ={"BUCKET": "other", "REGION": "europe-west4"})
    assert (moved.bucket, moved.region, moved.project) == (
        "other",
        "europe-west4",
        settings.project,
    )
    assert moved.train_files == ("gs://other/data/train.csv",)


def test_a_cloud_yaml_without_the_job_settings_loads_with_vertex_ais_defaults(tmp_path):
    """A project generated before config/cloud.yaml had scheduling, identity and labels."""
    (tmp_path / "cloud.mk").write_text((ROOT / "config/cloud.mk").read_text())
    current = yaml.safe_load((ROOT / "config/cloud.yaml").read_text())
    assert current["scheduling"] == {"timeout": "24h"}
    older = {key: value for key, value in current.items() if key not in JOB_SETTINGS}
    (tmp_path / "cloud.yaml").write_text(yaml.safe_dump(older))
    settings = load_settings(tmp_path, environ={})
    assert (settings.scheduling, settings.service_account, settings.tensorboard) == (None, "", "")
    assert (settings.enable_web_access, settings.labels) == (False, {})


def test_settings_name_what_is_missing(tmp_path):
    (tmp_path / "cloud.mk").write_text("GCP_PROJECT ?= p\nREGION ?= us-central1\n")
    (tmp_path / "cloud.yaml").write_text((ROOT / "config/cloud.yaml").read_text())
    with pytest.raises(ConfigError, match=r"cloud\.mk: missing BUCKET"):
        load_settings(tmp_path, environ={})


def test_the_package_hash_follows_the_trainer_sources_only(tmp_path):
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("setup.py", "requirements.txt", "Dockerfile", "trainer", "data"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    before = package.source_hash(copy)
    (copy / "data/extra.csv").write_text("a,b\n")
    (copy / "outputs").mkdir()
    assert package.source_hash(copy) == before
    (copy / "trainer/hparams.py").write_text((copy / "trainer/hparams.py").read_text() + "\n")
    assert package.source_hash(copy) != before


def test_the_executor_image_is_read_for_its_tensorflow_version():
    image = "us-docker.pkg.dev/vertex-ai/training/tf-gpu.2-17.py310:latest"
    assert package.image_tf_minor(image) == "2.17"
    assert re.fullmatch(
        r"\d+\.\d+", package.minor(package.pinned_version(ROOT / "requirements.txt"))
    )


PREBUILT_2_17 = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"


def _pinned(tmp_path: Path, version: str) -> Path:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f'tensorflow-cpu=={version}; sys_platform == "linux"\n')
    return requirements


def test_a_prebuilt_image_that_runs_the_pinned_tensorflow_is_accepted(tmp_path):
    preflight.executor_matches_pin(PREBUILT_2_17, _pinned(tmp_path, "2.17.1"))


def test_a_prebuilt_image_of_another_tensorflow_is_refused_with_both_fixes(tmp_path):
    with pytest.raises(preflight.PreflightError) as refused:
        preflight.executor_matches_pin(PREBUILT_2_17, _pinned(tmp_path, "2.21.0"))
    message = str(refused.value)
    assert f"{PREBUILT_2_17} runs TensorFlow 2.17, but requirements.txt pins TensorFlow 2.21.0" in (
        message
    )
    assert "use the custom container" in message
    assert "pin requirements.txt to the image's TensorFlow 2.17" in message


def test_an_image_whose_tensorflow_is_unknown_is_refused(tmp_path):
    with pytest.raises(preflight.PreflightError, match="does not say which TensorFlow it runs"):
        preflight.executor_matches_pin("gcr.io/me/trainer:1", ROOT / "requirements.txt")


def test_the_container_and_ci_run_the_python_of_python_version():
    """.python-version is the one home of the Python version: CI reads it, the Dockerfile's
    default cannot, so it must equal it."""
    version = (ROOT / ".python-version").read_text().strip()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"^ARG PYTHON_VERSION=(\S+)$", dockerfile, re.M) == [version]
    assert re.search(r"^FROM python:\$\{PYTHON_VERSION\}-slim$", dockerfile, re.M)
    ci = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    setups = [
        step["with"]
        for job in ci["jobs"].values()
        for step in job["steps"]
        if step.get("uses", "").startswith("actions/setup-python")
    ]
    assert setups and all(
        setup.get("python-version-file") == ".python-version" and "python-version" not in setup
        for setup in setups
    )
