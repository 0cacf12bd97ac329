"""Training as the cloud runs it: the real `gcloud ai-platform local train`, one process and a
chief with a worker; clusters of two and three report the metrics one process computes; and a
job killed mid-epoch that resumes where it stopped, twice in a row."""

from __future__ import annotations

import ast
import json
import math
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import VENV_BIN, local_predict, render, run, write_houses

MAKE_VENV = f"VENV={VENV_BIN.parent}"
SPECIES = {"Adelie", "Chinstrap", "Gentoo"}
FINAL_EVALUATION = re.compile(r"Final evaluation: (\{.*\})")
EPOCH_LINE = re.compile(r"^Epoch (\d+)/(\d+)$", re.MULTILINE)


def free_ports(count: int) -> int:
    """The first of `count` consecutive local ports that are free now."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        try:
            for port in range(first, first + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first


def served_classes(model_dir: Path, project: Path, gcloud_env: dict[str, str]) -> list[str]:
    """The classes `gcloud ai-platform local predict` gives for data/instances.json."""
    predictions = local_predict(model_dir, "data/instances.json", project, gcloud_env)
    return [p["classes"] for p in predictions]


def final_evaluations(log: str) -> list[dict[str, float]]:
    return [ast.literal_eval(match) for match in FINAL_EVALUATION.findall(log)]


def test_make_help_lists_the_local_training_targets(default_project):
    result = run(["make", "help"], cwd=default_project)
    for target in ("local-train", "local-train-distributed"):
        assert f"make {target} " in result.stdout


def test_local_train_runs_the_package_as_the_cloud_does(default_project, gcloud_env, tmp_path):
    job_dir = tmp_path / "job"
    result = run(
        ["make", "local-train", MAKE_VENV, f"JOB_DIR={job_dir}", "TRAINER_ARGS=--num-epochs 3"],
        cwd=default_project,
        env=gcloud_env,
    )
    log = result.stdout + result.stderr
    assert "Distribution: the default strategy (one process, no GPUs)" in log
    [metrics] = final_evaluations(log)
    assert json.loads((job_dir / "metrics.json").read_text()) == metrics
    assert set(served_classes(job_dir / "model", default_project, gcloud_env)) <= SPECIES


def test_local_train_distributed_chief_and_worker(default_project, gcloud_env, tmp_path):
    job_dir = tmp_path / "job"
    scratch = tmp_path / "tmp"  # where the worker's throwaway outputs go
    scratch.mkdir()
    result = run(
        [
            "make",
            "local-train-distributed",
            MAKE_VENV,
            f"JOB_DIR={job_dir}",
            "WORKERS=1",
            f"START_PORT={free_ports(2)}",
            "TRAINER_ARGS=--num-epochs 3",
        ],
        cwd=default_project,
        env={**gcloud_env, "TMPDIR": str(scratch)},
    )
    log = result.stdout + result.stderr
    assert "Distribution: MultiWorkerMirroredStrategy over 2 workers; this is the chief" in log
    assert "Distribution: MultiWorkerMirroredStrategy over 2 workers; this is a worker" in log
    # Both processes trained in step: the same final metrics, which the chief alone wrote.
    first, second = final_evaluations(log)
    assert first == second
    assert json.loads((job_dir / "metrics.json").read_text()) == first
    # The worker wrote its own export to a temporary directory, and deleted it before the end.
    exports = re.findall(r"Exported the serving model to (\S+)", log)
    assert len(exports) == 2 and str(job_dir / "model") in exports, exports
    [worker_export] = [path for path in exports if path != str(job_dir / "model")]
    assert Path(worker_export).is_relative_to(scratch)
    assert list(scratch.iterdir()) == [], "the worker left its temporary outputs behind"
    assert sorted(p.name for p in job_dir.iterdir()) == ["logs", "metrics.json", "model"]
    assert set(served_classes(job_dir / "model", default_project, gcloud_env)) <= SPECIES


# -------------------------------------------------------------------------- a cluster's metrics

BATCH_SIZE = 32
# What one process computes from the exported model's predictions on every evaluation row at
# once, in float64: the truth the cluster's reported metrics must equal.
ONE_PROCESS_METRICS = """
import json, sys
import numpy as np
import tensorflow as tf
from trainer import inputs
from trainer.features import SCHEMA

model_dir, eval_file, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = tf.saved_model.load(model_dir)
serve = model.signatures["serving_default"]
labels, predictions = [], []
for features, label in inputs.make_dataset([eval_file], SCHEMA, [], batch_size, False):
    labels.append(label.numpy())
    predictions.append(serve(**features)["predictions"].numpy())
error = np.concatenate(predictions).astype("float64") - np.concatenate(labels)
mse = float(np.mean(error**2))
metrics = {"loss": mse, "rmse": mse**0.5, "mean_absolute_error": float(np.mean(abs(error)))}
print(json.dumps({"rows": int(error.size), "metrics": metrics}))
"""
VALIDATION_METRIC = re.compile(r"\bval_(\w+): (\S+)")
TRAINING_LOSS = re.compile(r"/step - loss: (\S+)")


@pytest.fixture(scope="module")
def houses(template, tmp_path_factory) -> tuple[Path, Path, Path]:
    """A regression project, and house prices shaped like issue 16's cars: 321 training rows and
    65 evaluation rows with a label (write_houses leaves every 29th label empty). With batches of
    32, each last batch holds one row, so every replica but one gets an empty share of it."""
    root = tmp_path_factory.mktemp("houses")
    project = render(
        template,
        root / "project",
        project_name="House Prices",
        task_type="regression",
        label_column="price",
        numeric_features=["rooms", "area_m2"],
        categorical_features=["city"],
    )
    return project, write_houses(root / "train.csv", 333), write_houses(root / "eval.csv", 68)


def one_process_metrics(project: Path, model_dir: Path, eval_csv: Path) -> dict[str, float]:
    command = [str(VENV_BIN / "python"), "-c", ONE_PROCESS_METRICS, str(model_dir)]
    result = run([*command, str(eval_csv), str(BATCH_SIZE)], cwd=project)
    truth = json.loads(result.stdout.splitlines()[-1])
    assert truth["rows"] % BATCH_SIZE == 1, f"the last batch must hold one row: {truth}"
    return truth["metrics"]


def logged_validations(log: str) -> list[dict[str, float]]:
    """The validation metrics of each epoch line that `fit` printed, in every process."""
    lines = [line for line in log.splitlines() if "val_loss: " in line]
    return [{k: float(v) for k, v in VALIDATION_METRIC.findall(line)} for line in lines]


def hypertune_reports(metric_file: Path) -> list[float]:
    return [float(json.loads(line)["val_loss"]) for line in metric_file.read_text().splitlines()]


@pytest.mark.parametrize("workers", [1, 2], ids=["chief+1", "chief+2"])
def test_a_cluster_reports_the_metrics_of_one_process(houses, gcloud_env, tmp_path, workers):
    """Every metric a cluster reports (the epoch logs, the final evaluation, metrics.json, the
    tuning metric) equals what one process computes on the same data and weights."""
    project, train_csv, eval_csv = houses
    job_dir = tmp_path / "job"
    metric_file = tmp_path / "hypertune" / "output.metrics"
    result = run(
        [
            "make",
            "local-train-distributed",
            MAKE_VENV,
            f"JOB_DIR={job_dir}",
            f"WORKERS={workers}",
            f"START_PORT={free_ports(workers + 1)}",
            f"TRAIN_FILES={train_csv}",
            f"EVAL_FILES={eval_csv}",
            # One epoch: each logged validation is then of the exported weights.
            f"TRAINER_ARGS=--num-epochs 1 --batch-size {BATCH_SIZE} "
            "--early-stopping-patience 0 --hypertune-metric val_loss",
        ],
        cwd=project,
        env={**gcloud_env, "CLOUD_ML_HP_METRIC_FILE": str(metric_file)},
    )
    log = result.stdout + result.stderr
    processes = workers + 1
    assert f"MultiWorkerMirroredStrategy over {processes} workers" in log
    expected = one_process_metrics(project, job_dir / "model", eval_csv)

    training_losses = [float(loss) for loss in TRAINING_LOSS.findall(log)]
    assert len(training_losses) == processes, log[-4000:]
    assert all(map(math.isfinite, training_losses)), training_losses
    reported = {
        "metrics.json": json.loads((job_dir / "metrics.json").read_text()),
        **{f"final evaluation {i}": m for i, m in enumerate(final_evaluations(log))},
        **{f"epoch log {i}": m for i, m in enumerate(logged_validations(log))},
    }
    assert len(reported) == 1 + 2 * processes, sorted(reported)
    for source, metrics in reported.items():
        assert metrics == pytest.approx(expected, rel=1e-5), source
    # The chief reports the validation after the epoch, then the final evaluation.
    assert hypertune_reports(metric_file) == pytest.approx([expected["loss"]] * 2, rel=1e-5)


# ---------------------------------------------------------------------------------- preemption

EPOCHS = 6


@pytest.fixture
def larger_train_csv(default_project, tmp_path) -> Path:
    """The sample's training rows repeated to 12,000: an epoch then lasts long enough (about a
    second here) to be killed in the middle."""
    header, *rows = (default_project / "data/train.csv").read_text().splitlines()
    path = tmp_path / "train.csv"
    path.write_text("\n".join([header, *(rows * (12_000 // len(rows) + 1))[:12_000]]) + "\n")
    return path


def start_training(project: Path, train_csv: Path, job_dir: Path, log: Path) -> subprocess.Popen:
    command = [
        str(VENV_BIN / "python"),
        "-m",
        "trainer.task",
        "--train-files",
        str(train_csv),
        "--eval-files",
        "data/eval.csv",
        "--job-dir",
        str(job_dir),
        "--num-epochs",
        str(EPOCHS),
        "--early-stopping-patience",
        "0",
    ]
    with log.open("w") as out:
        return subprocess.Popen(command, cwd=project, stdout=out, stderr=subprocess.STDOUT)


def kill_when_epoch_starts(process: subprocess.Popen, log: Path, epoch: int) -> None:
    """SIGKILLs the job as soon as Keras prints `Epoch <epoch>/N`: the previous epoch is saved,
    this one has begun and is lost."""
    deadline = time.monotonic() + 600
    while f"Epoch {epoch}/{EPOCHS}\n" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"training did not reach epoch {epoch}:\n{log.read_text()[-4000:]}")
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL


def saved_epoch(job_dir: Path) -> int:
    """The epoch counter in the saved training state (Keras BackupAndRestore's own record)."""
    return json.loads((job_dir / "checkpoints/training_metadata.json").read_text())["epoch"]


def epochs_run(log: str) -> list[int]:
    return [int(n) for n, total in EPOCH_LINE.findall(log) if int(total) == EPOCHS]


def assert_resumed(log: str, job_dir: Path, done: int) -> None:
    assert (
        f"Resumed from the checkpoint in {job_dir}/checkpoints after epoch {done} of {EPOCHS}; "
        f"training goes on with epoch {done + 1}"
    ) in log
    assert epochs_run(log)[0] == done + 1, "no finished epoch runs again"


def test_a_killed_job_resumes_where_it_stopped_twice(
    default_project, larger_train_csv, gcloud_env, tmp_path
):
    job_dir = tmp_path / "job"
    logs = [tmp_path / f"run{i}.log" for i in (1, 2, 3)]

    first = start_training(default_project, larger_train_csv, job_dir, logs[0])
    kill_when_epoch_starts(first, logs[0], 3)
    assert saved_epoch(job_dir) == 2
    assert epochs_run(logs[0].read_text()) == [1, 2, 3]

    second = start_training(default_project, larger_train_csv, job_dir, logs[1])
    kill_when_epoch_starts(second, logs[1], 5)
    assert saved_epoch(job_dir) == 4
    assert_resumed(logs[1].read_text(), job_dir, done=2)
    assert epochs_run(logs[1].read_text()) == [3, 4, 5]

    third = start_training(default_project, larger_train_csv, job_dir, logs[2])
    assert third.wait(timeout=600) == 0, logs[2].read_text()[-4000:]
    log = logs[2].read_text()
    assert_resumed(log, job_dir, done=4)
    assert epochs_run(log) == [5, 6]

    assert (job_dir / "model/saved_model.pb").exists()
    assert not (job_dir / "checkpoints").exists(), "the saved state outlived the export"
    assert served_classes(job_dir / "model", default_project, gcloud_env) == [
        "Adelie",
        "Gentoo",
        "Chinstrap",
    ]
