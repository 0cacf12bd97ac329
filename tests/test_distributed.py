"""Training as the cloud runs it: the real `gcloud ai-platform local train`, one process and a
chief with a worker; and a job killed mid-epoch that resumes where it stopped, twice in a row."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import VENV_BIN, local_predict, run

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
