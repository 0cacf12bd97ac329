"""The command line: fast help, clear argument errors, and where outputs go."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import pytest

from trainer import task
from trainer.hparams import HParams


def _run_without_tensorflow(*args: str) -> subprocess.CompletedProcess:
    """Runs `trainer.task` in a fresh interpreter and fails if it imported TensorFlow."""
    code = (
        "import sys\n"
        "from trainer import task\n"
        "try:\n"
        f"    task.main({list(args)!r})\n"
        "finally:\n"
        "    assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    )
    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)


def test_help_returns_without_importing_tensorflow():
    result = _run_without_tensorflow("--help")
    assert result.returncode == 0, result.stderr
    assert "--train-files" in result.stdout
    assert "--learning-rate" in result.stdout


def test_bad_argument_fails_without_importing_tensorflow():
    result = _run_without_tensorflow(
        "--train-files", "a.csv", "--eval-files", "b.csv", "--job-dir", "out", "--batch-size", "0"
    )
    assert result.returncode == 2
    assert "--batch-size: must be a positive integer" in result.stderr
    assert "TensorFlow was imported" not in result.stderr


def test_job_dir_is_required_outside_vertex(monkeypatch, capsys):
    monkeypatch.delenv("AIP_MODEL_DIR", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        task.main(["--train-files", "a.csv", "--eval-files", "b.csv"])
    assert exit_info.value.code == 2
    assert "--job-dir is required" in capsys.readouterr().err


def test_every_hyperparameter_is_a_flag():
    args = task.build_parser().parse_args(
        ["--train-files", "a.csv", "--eval-files", "b.csv", "--hidden-units", "16,8"]
    )
    for field in fields(HParams):
        assert hasattr(args, field.name), f"no --{field.name.replace('_', '-')} flag"
    assert args.hidden_units == (16, 8)


def test_outputs_go_under_the_job_dir():
    paths = task.output_paths("gs://bucket/jobs/run1/", {})
    assert paths.model_dir == "gs://bucket/jobs/run1/model"
    assert paths.checkpoint_dir == "gs://bucket/jobs/run1/checkpoints"
    assert paths.tensorboard_dir == "gs://bucket/jobs/run1/logs"
    assert paths.metrics_path == "gs://bucket/jobs/run1/metrics.json"


def test_vertex_output_directories_win():
    env = {
        "AIP_MODEL_DIR": "gs://b/out/model/",
        "AIP_CHECKPOINT_DIR": "gs://b/out/checkpoints/",
        "AIP_TENSORBOARD_LOG_DIR": "gs://b/out/logs/",
    }
    paths = task.output_paths(None, env)
    assert paths.model_dir == "gs://b/out/model/"
    assert paths.checkpoint_dir == "gs://b/out/checkpoints/"
    assert paths.tensorboard_dir == "gs://b/out/logs/"
    assert paths.metrics_path == "gs://b/out/metrics.json"
