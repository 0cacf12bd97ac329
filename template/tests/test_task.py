"""The command line: fast help, clear argument errors, and where outputs go."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from trainer import task
from trainer.hparams import HParams

from conftest import run_trainer, the_error_line


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


def test_an_unreadable_gs_file_is_one_error_line_naming_it_and_the_cause(tmp_path):
    """No network, simulated on any machine: Cloud Storage requests go through a proxy port that
    refuses connections, and TensorFlow's GCS client does not retry them."""
    uri = "gs://no-google-bucket/train.csv"  # bucket names may not contain "google"
    env = {key: value for key, value in os.environ.items() if key.lower() != "no_proxy"}
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    env["CLOUDSDK_CONFIG"] = str(tmp_path / "gcloud")  # no credentials to refresh
    env["NO_GCE_CHECK"] = "true"  # not on Google Compute Engine: no metadata server to ask
    env["GCS_RETRY_CONFIG_MAX_RETRIES"] = "0"
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        env["https_proxy"] = env["HTTPS_PROXY"] = f"http://127.0.0.1:{closed.getsockname()[1]}"
        result = run_trainer(
            *("--train-files", uri, "--eval-files", uri, "--job-dir", str(tmp_path / "job")),
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
        )
    error = the_error_line(result)
    assert error.startswith(f"error: {uri}: cannot read it (")
    # curl's wording, which TensorFlow's GCS client passes on, varies with the TensorFlow build.
    assert "Could not connect to server" in error or "Couldn't connect to server" in error
