"""The generated project's own workflow, as its README tells a newcomer to run it:
`make train` on the sample data, then `make predict` through the real gcloud; on a dataset of
one's own, `make prepare train predict`; and the Makefile's settings, shown and checked."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from conftest import VENV_BIN, free_port, gcloud_config, render, run, write_houses

MAKE_VENV = f"VENV={VENV_BIN.parent}"
# The settings each workflow target shows first, so that a wrong value shows at once.
SHOWN_SETTINGS = {
    "train": ["TRAIN_FILES", "EVAL_FILES", "JOB_DIR", "TRAINER_ARGS"],
    "local-train": ["TRAIN_FILES", "EVAL_FILES", "JOB_DIR", "TRAINER_ARGS"],
    "local-train-distributed": ["TRAIN_FILES", "EVAL_FILES", "JOB_DIR", "TRAINER_ARGS", "WORKERS"],
    "predict": ["JOB_DIR", "INSTANCES"],
    "evaluate": ["JOB_DIR", "EVAL_FILES"],
    "describe": ["RAW_DATA"],
    "schema": ["RAW_DATA", "LABEL"],
    "prepare": ["RAW_DATA", "DATA_DIR", "INSTANCES", "PREPARE_ARGS", "SHARDS", "EVAL_SHARDS"],
    "stage-data": ["STAGE_FILES", "BUCKET", "REGION", "GCP_PROJECT", "STAGE_ARGS"],
    "submit": ["TIER", "TRAINER_ARGS"],
    "hptune": ["TIER", "TRAINER_ARGS"],
    "hptune-local": ["TRAIN_FILES", "EVAL_FILES", "SWEEP_ARGS", "TRAINER_ARGS"],
    "deploy": ["JOB", "MODEL_DIR"],
    "predict-cloud": ["INSTANCES"],
    "batch-predict": ["INPUT", "OUTPUT"],
    "parity-check": ["JOB_DIR", "INSTANCES"],
}


def test_make_help_lists_the_workflow(default_project):
    result = run(["make", "help"], cwd=default_project)
    for target in ("install", "test", "lint", "train", "predict", "evaluate"):
        assert f"make {target} " in result.stdout


def test_predict_fails_as_gcloud_fails(default_project, tmp_path, gcloud_env):
    """A model that gcloud cannot load: its error, and its exit status, come through."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model/saved_model.pb").write_bytes(b"")
    result = run(
        ["make", "--silent", "predict", MAKE_VENV, f"JOB_DIR={tmp_path}"],
        cwd=default_project,
        env=gcloud_env,
        check=False,
    )
    assert result.returncode == 2  # make's status for a failed recipe
    assert "ERROR: (gcloud.ai-platform.local.predict)" in result.stderr
    assert "Failed to load the model" in result.stderr


@pytest.mark.parametrize("instances", ["sample", "bad"])
def test_predict_names_a_missing_model_and_bad_instances_before_gcloud(
    default_project, tmp_path, instances
):
    """Without these checks, gcloud answers "Cloud ML only supports TF 1.0 or above" for a model
    that is not there, and "Unexpected tensor name: isle" for a misspelt key."""
    path = default_project / "data/instances.json"
    if instances == "bad":
        path = tmp_path / "instances.json"
        good = json.loads((default_project / "data/instances.json").read_text().splitlines()[0])
        good["isle"] = good.pop("island")
        path.write_text(json.dumps(good) + "\n")
    job_dir = tmp_path / "never-trained"
    result = run(
        ["make", "predict", MAKE_VENV, f"JOB_DIR={job_dir}", f"INSTANCES={path}"],
        cwd=default_project,
        check=False,
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    expected = [f"error: {job_dir}/model: no exported model here; run `make train` first"]
    if instances == "bad":
        expected += [
            f"error: {path}, line 1: no key 'island': every feature needs one",
            f"error: {path}, line 1: 'isle' is not a feature of the model (did you mean 'island'?)",
        ]
    assert len(errors) == len(expected), errors
    assert all(e.startswith(x) for e, x in zip(errors, expected, strict=True)), errors
    # gcloud never ran: make echoes what it runs, and the run shows gcloud's command.
    assert "workflow.serving.local_predict" not in result.stdout
    assert "$ gcloud" not in result.stderr


def test_bad_data_is_one_clear_error(default_project, tmp_path):
    broken = tmp_path / "train.csv"
    header, *rows = (default_project / "data/train.csv").read_text().splitlines()
    broken.write_text("\n".join([header.replace("island", "isle"), *rows]) + "\n")
    result = run(
        [
            "python",
            "-m",
            "trainer.task",
            "--train-files",
            str(broken),
            "--eval-files",
            "data/eval.csv",
            "--job-dir",
            str(tmp_path / "job"),
        ],
        cwd=default_project,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"error: {broken}: declared column(s) island missing from the header" in result.stderr


def _with_missing_features(path: Path) -> Path:
    """Houses where one row in two has no city, and one in three no rooms, so that the first
    evaluation rows, which become the instances, lack some."""
    with path.open(newline="") as f:
        header, *rows = csv.reader(f)
    for i, row in enumerate(rows):
        row[header.index("city")] = row[header.index("city")] if i % 2 else ""
        row[header.index("rooms")] = row[header.index("rooms")] if i % 3 else "NA"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


@pytest.mark.long
def test_another_dataset_prepares_trains_and_serves_with_make(template, tmp_path, gcloud_env):
    """A regression on house prices, straight after its copier answers: unused columns, missing
    values, and `make prepare` writing the instances that `make predict` sends."""
    project = render(
        template,
        tmp_path / "houses",
        project_name="House Prices",
        task_type="regression",
        label_column="price",
        numeric_features=["rooms", "area_m2"],
        categorical_features=["city"],
        model_type="wide_deep",
    )
    _with_missing_features(write_houses(project / "data/houses.csv", n=360))
    result = run(
        [
            *("make", "--silent", "prepare", "train", "predict", MAKE_VENV),
            *("RAW_DATA=data/houses.csv", "PREPARE_ARGS=--key listing_id"),
            "TRAINER_ARGS=--num-epochs 5",
        ],
        cwd=project,
        env=gcloud_env,
    )
    assert "360 rows read, 13 dropped (no 'price' value), 347 kept" in result.stdout

    # Every feature key; a missing category is "" and a missing number null, as the serving
    # signature takes them (it refuses a key left out, and null for a string).
    instances = [json.loads(line) for line in (project / "data/instances.json").open()]
    assert len(instances) == 3
    assert all(list(i) == ["city", "rooms", "area_m2"] for i in instances)
    assert "" in [i["city"] for i in instances]
    assert None in [i["rooms"] for i in instances]

    lines = result.stdout.splitlines()
    predictions = lines[lines.index("PREDICTIONS") + 1 :]
    assert len(predictions) == 3, result.stdout
    assert all(float(p) > 0 for p in predictions)
    # Half the rows lack their city, a third of the price's spread: a quarter less error than
    # the training rows' mean price is a clear margin there, half is not reachable.
    metrics = json.loads((project / "outputs/local/metrics.json").read_text())
    assert metrics["rmse"] <= 0.75 * _rmse_of_the_training_mean(project / "data", "price")


def _rmse_of_the_training_mean(data_dir: Path, label: str) -> float:
    """The RMSE on eval.csv of always predicting the mean label of train.csv."""

    def labels(name: str) -> list[float]:
        with (data_dir / name).open(newline="") as f:
            return [float(row[label]) for row in csv.DictReader(f) if row[label]]

    train, held_back = labels("train.csv"), labels("eval.csv")
    mean = sum(train) / len(train)
    return (sum((y - mean) ** 2 for y in held_back) / len(held_back)) ** 0.5


def test_a_workflow_target_first_shows_its_settings_on_stderr(default_project):
    result = run(
        ["make", "--silent", "describe", MAKE_VENV, "RAW_DATA=data/eval.csv"], cwd=default_project
    )
    assert result.stderr.splitlines()[0] == 'make describe: RAW_DATA="data/eval.csv"'
    assert result.stdout.startswith("data/eval.csv: 81 rows")


@pytest.mark.parametrize("target", SHOWN_SETTINGS)
def test_every_workflow_target_shows_its_settings(default_project, target):
    result = run(
        ["make", "--dry-run", target, MAKE_VENV, "TRAINER_ARGS=--it's"], cwd=default_project
    )
    [line] = [x for x in result.stdout.splitlines() if f"make {target}: " in x]
    for name in SHOWN_SETTINGS[target]:
        assert f'{name}="' in line, (name, line)
    if "TRAINER_ARGS" in SHOWN_SETTINGS[target]:
        # The line runs through the shell: a quote in a value is escaped, and shown as given.
        shown = run(line.replace(">&2", ""), cwd=default_project).stdout
        assert 'TRAINER_ARGS="--it\'s"' in shown


def test_a_mistyped_variable_is_named_in_a_warning(default_project):
    result = run(
        [
            *("make", "--silent", "describe", MAKE_VENV),
            *("RAWDATA=data/eval.csv", "TRAINER_ARG=--num-epochs 1"),
        ],
        cwd=default_project,
    )
    for typo, meant in (("RAWDATA", "RAW_DATA"), ("TRAINER_ARG", "TRAINER_ARGS")):
        assert (
            f"warning: {typo} (did you mean {meant}?) is not a setting of this Makefile and "
            "changes nothing"
        ) in result.stderr
    assert "VENV is not a setting" not in result.stderr
    # And the settings line shows that the typo changed nothing.
    assert 'make describe: RAW_DATA="data/penguins.csv"' in result.stderr


def test_every_variable_with_a_default_is_a_setting(default_project):
    """A variable the Makefile gives a default (NAME ?= ...) is one to set: setting it must not
    draw the warning."""
    result = run(["make", "--silent", "help"], cwd=default_project)
    [listed] = [line for line in result.stdout.splitlines() if line.startswith("Settings")]
    settings = set(listed.split(":", 1)[1].split())
    defaults = set()
    for makefile in ("Makefile", "config/cloud.mk"):
        text = (default_project / makefile).read_text()
        defaults |= set(re.findall(r"^([A-Z][A-Z_]*) *\?=", text, re.MULTILINE))
    assert {"RAW_DATA", "BUCKET", "SWEEP_ARGS"} <= defaults
    assert defaults <= settings


# The targets that send something to Google Cloud or spend money there.
CLOUD_TARGETS = [
    "stage-data",
    "submit",
    "hptune",
    "deploy",
    "predict-cloud",
    "undeploy",
    "batch-predict",
]


@pytest.mark.parametrize("target", CLOUD_TARGETS)
def test_a_mistyped_variable_stops_a_cloud_target(default_project, target):
    """`make submit TEIR=BASIC_GPU` would otherwise submit on the default tier. (--dry-run: were
    the target not stopped, make would print its commands and exit 0, and send nothing.)"""
    result = run(
        ["make", "--dry-run", target, MAKE_VENV, "TEIR=BASIC_GPU"],
        cwd=default_project,
        check=False,
    )
    assert result.returncode == 2, result.stdout
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert re.match(
        rf"Makefile:\d+: \*\*\* error: TEIR \(did you mean TIER\?\) is not a setting of this "
        rf"Makefile: make {target} stops before it sends anything to Google Cloud\. Settings: "
        r"[A-Z_ ]*\bTIER\b",
        line,
    ), line


def test_a_stopped_cloud_target_runs_nothing(default_project, tmp_path):
    """A real run: it stops before the settings line and the script, naming every typo. Were
    they reached, gcloud and the storage client would find only a closed local port."""
    closed = f"http://127.0.0.1:{free_port()}"
    env = gcloud_config(
        tmp_path / "gcloud",
        {"auth/disable_credentials": "True"}
        | {
            f"api_endpoint_overrides/{api}": f"{closed}/"
            for api in ("aiplatform", "cloudbuild", "artifactregistry", "storage")
        },
    )
    env["STORAGE_EMULATOR_HOST"] = closed
    result = run(
        ["make", "submit", MAKE_VENV, "TEIR=BASIC_GPU", "tier=BASIC", "NOTES=x"],
        cwd=default_project,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert (
        "error: NOTES, TEIR (did you mean TIER?), tier (did you mean TIER?) are not settings of "
        "this Makefile: make submit stops"
    ) in line


@pytest.mark.parametrize(
    "given",
    [
        pytest.param({"env": {"TEIR": "BASIC_GPU"}}, id="in-the-environment"),
        pytest.param({"args": ["SHELL=/bin/bash"]}, id="make's-own-variable"),
        pytest.param({"args": ["TIER=BASIC_GPU", "STAGE_ARGS=--dry-run"]}, id="settings"),
    ],
)
def test_only_an_unknown_variable_on_the_command_line_stops_a_cloud_target(default_project, given):
    result = run(
        ["make", "--dry-run", "submit", MAKE_VENV, *given.get("args", [])],
        cwd=default_project,
        env=given.get("env"),
    )
    assert "scripts/submit.sh" in result.stdout
    assert "not a setting" not in result.stderr
