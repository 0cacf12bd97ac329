"""Tuning trials: the trial id, each trial's own output paths, and who reports the metric."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from trainer import task, trial
from trainer.features import SCHEMA


def tf_config(task_type: str = "chief", index: int = 0, trial_id: str | None = None) -> str:
    config = {"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": task_type}}
    config["task"]["index"] = index
    if trial_id is not None:
        config["task"]["trial"] = trial_id
    return json.dumps(config)


def test_the_trial_id_comes_from_vertex_or_tf_config():
    assert trial.trial_id({}) is None
    assert trial.trial_id({"CLOUD_ML_TRIAL_ID": "7"}) == "7"
    assert trial.trial_id({"TF_CONFIG": tf_config(trial_id="3")}) == "3"
    assert trial.trial_id({"CLOUD_ML_TRIAL_ID": "7", "TF_CONFIG": tf_config(trial_id="3")}) == "7"
    assert trial.trial_id({"TF_CONFIG": tf_config()}) is None


@pytest.mark.parametrize("bad", ["../2", "a/b", ".."])
def test_a_trial_id_that_is_no_directory_name_is_refused(bad):
    with pytest.raises(ValueError, match="cannot name a directory"):
        trial.trial_id({"CLOUD_ML_TRIAL_ID": bad})


def test_each_trial_of_a_shared_job_dir_gets_its_own_outputs():
    one = task.output_paths("gs://b/sweep/", {"CLOUD_ML_TRIAL_ID": "1"})
    two = task.output_paths("gs://b/sweep", {"TF_CONFIG": tf_config(trial_id="2")})
    assert one == task.OutputPaths(
        model_dir="gs://b/sweep/1/model",
        checkpoint_dir="gs://b/sweep/1/checkpoints",
        tensorboard_dir="gs://b/sweep/1/logs",
        metrics_path="gs://b/sweep/1/metrics.json",
    )
    assert all(path.startswith("gs://b/sweep/2/") for path in asdict(two).values())
    # Outside a tuning job nothing moves.
    assert task.output_paths("gs://b/sweep", {}).model_dir == "gs://b/sweep/model"


def test_vertex_directories_that_name_the_trial_are_not_nested_again():
    env = {
        "CLOUD_ML_TRIAL_ID": "4",
        "AIP_MODEL_DIR": "gs://b/jobs/hp/4/model/",
        "AIP_CHECKPOINT_DIR": "gs://b/jobs/hp/4/checkpoints/",
        "AIP_TENSORBOARD_LOG_DIR": "gs://b/jobs/hp/4/logs/",
    }
    paths = task.output_paths(None, env)
    assert paths == task.OutputPaths(
        model_dir="gs://b/jobs/hp/4/model/",
        checkpoint_dir="gs://b/jobs/hp/4/checkpoints/",
        tensorboard_dir="gs://b/jobs/hp/4/logs/",
        metrics_path="gs://b/jobs/hp/4/metrics.json",
    )
    # A --job-dir shared by every trial (one of the trainer arguments) is separated all the same.
    assert task.output_paths("gs://b/mine", env).metrics_path == "gs://b/mine/4/metrics.json"


def test_vertex_directories_without_the_trial_get_it():
    env = {"CLOUD_ML_TRIAL_ID": "4", "AIP_MODEL_DIR": "gs://b/out/model"}
    paths = task.output_paths(None, env)
    assert paths.model_dir == "gs://b/out/4/model"
    assert paths.checkpoint_dir == "gs://b/out/4/checkpoints"
    assert paths.metrics_path == "gs://b/out/4/metrics.json"


def test_the_trial_paths_do_not_nest_twice():
    assert trial.trial_dir(trial.trial_dir("out", "5"), "5") == "out/5"
    assert trial.trial_output(trial.trial_output("gs://b/model", "5"), "5") == "gs://b/5/model"


def test_only_the_chief_of_a_tuning_trial_reports():
    assert not trial.reports_metric({})
    assert trial.reports_metric({"CLOUD_ML_TRIAL_ID": "1"})
    assert trial.reports_metric({"CLOUD_ML_HP_METRIC_FILE": "/tmp/m"})
    assert trial.reports_metric({"TF_CONFIG": tf_config("chief", trial_id="1")})
    assert not trial.reports_metric({"TF_CONFIG": tf_config("worker", 0, trial_id="1")})
    cluster = tf_config("worker", 0)
    assert not trial.reports_metric({"CLOUD_ML_TRIAL_ID": "1", "TF_CONFIG": cluster})


def test_the_tuning_metric_flag_defaults_to_the_task_types_metric():
    args = task.build_parser().parse_args(["--train-files", "a", "--eval-files", "b"])
    assert args.hypertune_metric == trial.TUNING_METRICS[SCHEMA.task_type][0]
    with pytest.raises(SystemExit):
        task.build_parser().parse_args(
            ["--train-files", "a", "--eval-files", "b", "--hypertune-metric", "accuracy"]
        )


def test_the_tuning_metrics_are_the_models_evaluation_metrics(trained):
    """TUNING_METRICS repeats model.py's metric names without TensorFlow: they must agree."""
    result, _ = trained
    evaluated = {f"val_{name}" for name in result.metrics}
    assert set(trial.TUNING_METRICS[SCHEMA.task_type]) == evaluated
