"""Scale tiers that scale, in a generated project: data prepared in shards with its stats file,
a local cluster on them, killed and resumed, whose workers each read only their own shards and
report the whole evaluation set's metrics, a tuning trial with the stats file, and the submit
scripts passing the staged shards and stats file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_distributed import (
    INSTANCE_SPECIES,
    final_evaluations,
    preempted_training,
    served_classes,
)

from conftest import VENV_BIN, render, run

MAKE_VENV = f"VENV={VENV_BIN.parent}"
PYTHON = str(VENV_BIN / "python")
TRAIN_SHARDS = [f"train-{i:05d}-of-00004.csv" for i in range(4)]
EVAL_SHARDS = [f"eval-{i:05d}-of-00002.csv" for i in range(2)]
OWN_SHARE = re.compile(r"This worker reads its share of the \d+ (\w+) files \(\d+ workers\): (.*)")
# Accuracy and loss of the exported model on every evaluation row at once, in float64.
ONE_PROCESS_METRICS = """
import glob, json, sys
import numpy as np
import tensorflow as tf
from trainer import inputs
from trainer.features import SCHEMA

model_dir, pattern = sys.argv[1], sys.argv[2]
serve = tf.saved_model.load(model_dir)
classes = json.load(open("data/stats.json"))["train"]["classes"]
labels, probabilities = [], []
for features, label in inputs.make_dataset(sorted(glob.glob(pattern)), SCHEMA, classes, 64, False):
    labels.append(label.numpy())
    probabilities.append(serve.signatures["serving_default"](**features)["probabilities"].numpy())
y, p = np.concatenate(labels), np.concatenate(probabilities).astype("float64")
print(json.dumps({
    "accuracy": float(np.mean(p.argmax(axis=1) == y)),
    "loss": float(-np.mean(np.log(p[np.arange(y.size), y]))),
}))
"""


@pytest.fixture(scope="module")
def sharded(template, tmp_path_factory) -> Path:
    """A default project whose sample is prepared in 4 training and 2 evaluation shards. The
    rendered data/instances.json, one penguin of each species, is kept as ../species.json:
    `make prepare` writes held-out rows there instead."""
    project = render(template, tmp_path_factory.mktemp("sharded") / "project")
    shutil.copy(project / "data/instances.json", project.parent / "species.json")
    run(["make", "prepare", MAKE_VENV, "SHARDS=4", "EVAL_SHARDS=2"], cwd=project)
    return project


def test_make_prepare_shards_replaces_the_single_files(sharded):
    names = sorted(p.name for p in (sharded / "data").iterdir())
    assert names == sorted(
        [*EVAL_SHARDS, "instances.json", "penguins.csv", "stats.json", *TRAIN_SHARDS]
    )
    stats = json.loads((sharded / "data/stats.json").read_text())
    assert [f["name"] for f in stats["train"]["files"]] == TRAIN_SHARDS
    assert [f["name"] for f in stats["eval"]["files"]] == EVAL_SHARDS


@pytest.mark.long
def test_a_cluster_killed_on_shards_resumes_and_reports_the_whole_evaluation_sets_metrics(
    sharded, gcloud_env, tmp_path
):
    """A chief and a worker, given the shards' patterns and the stats file as the cloud scripts
    give them, killed in epoch 2 and restarted: the job resumes after epoch 1. In its last run,
    every process takes the statistics from the stats file; each worker reads only its own
    shards, together each shard once; both report the whole evaluation set's metrics, those of
    the exported model on every row; and the model serves the right species."""
    job_dir = tmp_path / "job"
    log = preempted_training(
        sharded,
        job_dir,
        tmp_path,
        1,
        (2,),
        env=gcloud_env,
        # Quoted: the trainer gets the patterns themselves, not the files the shell matches.
        settings=[
            "TRAIN_FILES='data/train-*-of-00004.csv'",
            "EVAL_FILES='data/eval-*-of-00002.csv'",
        ],
        trainer_args=["--stats-file", "data/stats.json"],
    )
    assert log.count("Statistics from data/stats.json, which describes these 4 training") == 2
    assert "training file(s) for 2 workers" not in log  # no warning: enough files
    # Each worker read its own half of the shards: together each shard once.
    shares = set(OWN_SHARE.findall(log))
    assert shares == {
        ("training", f"{TRAIN_SHARDS[0]}, {TRAIN_SHARDS[2]}"),
        ("training", f"{TRAIN_SHARDS[1]}, {TRAIN_SHARDS[3]}"),
        ("evaluation", EVAL_SHARDS[0]),
        ("evaluation", EVAL_SHARDS[1]),
    }
    # Both report the whole evaluation set's metrics: those of the exported model on every row.
    first, second = final_evaluations(log)
    assert first == second
    assert json.loads((job_dir / "metrics.json").read_text()) == first
    truth = run(
        [PYTHON, "-c", ONE_PROCESS_METRICS, str(job_dir / "model"), "data/eval-*-of-00002.csv"],
        cwd=sharded,
    )
    assert first == pytest.approx(json.loads(truth.stdout.splitlines()[-1]), rel=1e-5)
    species = served_classes(job_dir / "model", sharded, gcloud_env, "../species.json")
    assert species == INSTANCE_SPECIES


def test_a_tuning_trial_uses_the_stats_file_and_writes_only_its_own_outputs(sharded, tmp_path):
    output_dir = tmp_path / "sweep"
    run(
        [
            *("make", "--silent", "hptune-local", MAKE_VENV),
            f"SWEEP_ARGS=--trials 2 --parallel 2 --seed 1 --num-epochs 2 --output-dir {output_dir}",
            "TRAINER_ARGS=--stats-file data/stats.json",
        ],
        cwd=sharded,
    )
    for trial in ("1", "2"):
        log = (output_dir / trial / "train.log").read_text()
        assert "Statistics from data/stats.json, which describes these 4 training file(s)" in log
        assert (output_dir / trial / "model/saved_model.pb").exists()
    assert sorted(p.name for p in output_dir.iterdir()) == ["1", "2", "results.csv"]


def _dry_run(project: Path, script: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {"CLOUDSDK_CONFIG": str(tmp_path / "gcloud"), "PYTHON": PYTHON}
    return run(["bash", f"scripts/{script}", *args, "--dry-run"], cwd=project, env=env)


@pytest.mark.parametrize("script", ["submit.sh", "hptune.sh"])
def test_the_scripts_train_on_the_staged_shards_with_the_stats_file(sharded, tmp_path, script):
    result = _dry_run(sharded, script, "BASIC", tmp_path=tmp_path)
    bucket = "gs://my-gcp-project-penguin-species"
    args = " ".join(result.stdout.split())
    assert (
        f"- --train-files - {bucket}/data/train-*-of-00004.csv "
        f"- --eval-files - {bucket}/data/eval-*-of-00002.csv "
        f"- --stats-file - {bucket}/data/stats.json"
    ) in args
    assert "machines on" not in result.stderr


def test_a_tier_with_more_machines_than_training_files_draws_a_warning(sharded, tmp_path):
    result = _dry_run(sharded, "submit.sh", "STANDARD_1", tmp_path=tmp_path)
    assert (
        "warning: the tier runs 5 machines on 4 training file(s): each machine then reads "
        "every training row. Split the data so that each reads only its own: "
        "make prepare SHARDS=5 && make stage-data"
    ) in result.stderr


def test_stats_that_no_longer_describe_the_data_are_not_passed(sharded, tmp_path):
    stats = sharded / "data/stats.json"
    original = stats.read_text()
    try:
        content = json.loads(original)
        content["train"]["files"][0]["size"] += 1
        stats.write_text(json.dumps(content))
        result = _dry_run(sharded, "submit.sh", "BASIC", tmp_path=tmp_path)
    finally:
        stats.write_text(original)
    assert "--stats-file" not in result.stdout
    assert (
        "warning: not passing data/stats.json to the job: it does not describe "
        "data/train-00000-of-00004.csv ... data/train-00003-of-00004.csv"
    ) in result.stderr
