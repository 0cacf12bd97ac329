"""Training as the cloud runs it: the real `gcloud ai-platform local train`, one process
SIGKILLed twice in epochs it is held from finishing, resuming after its last saved epoch, beating
the majority class and serving the right species; and a cluster of three training in step, the
chief alone writing the outputs, and reporting the metrics one process computes. (A chief and a
worker killed on shards: tests/test_shards.py, with these helpers.)"""

from __future__ import annotations

import ast
import contextlib
import csv
import json
import math
import os
import re
import select
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from conftest import VENV_BIN, local_predict, render, run, write_houses

MAKE_VENV = f"VENV={VENV_BIN.parent}"
# data/instances.json holds one penguin of each species, in this order.
INSTANCE_SPECIES = ["Adelie", "Gentoo", "Chinstrap"]
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


def served_classes(
    model_dir: Path,
    project: Path,
    gcloud_env: dict[str, str],
    instances: str = "data/instances.json",
) -> list[str]:
    """The classes `gcloud ai-platform local predict` gives for `instances` (in `project`)."""
    predictions = local_predict(model_dir, instances, project, gcloud_env)
    return [p["classes"] for p in predictions]


def final_evaluations(log: str) -> list[dict[str, float]]:
    return [ast.literal_eval(match) for match in FINAL_EVALUATION.findall(log)]


def species(csv_file: Path) -> list[str]:
    with csv_file.open(newline="") as f:
        return [row["species"] for row in csv.DictReader(f)]


def assert_beats_the_majority_class(project: Path, accuracy: float) -> None:
    """At most half the errors, on the held-back data/eval.csv, of always answering the most
    frequent species of data/train.csv."""
    [(majority, _)] = Counter(species(project / "data/train.csv")).most_common(1)
    held_back = species(project / "data/eval.csv")
    majority_rate = held_back.count(majority) / len(held_back)
    assert 1 - accuracy <= (1 - majority_rate) / 2, f"{accuracy=} against {majority_rate=}"


def test_make_help_lists_the_local_training_targets(default_project):
    result = run(["make", "help"], cwd=default_project)
    for target in ("local-train", "local-train-distributed"):
        assert f"make {target} " in result.stdout


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


@pytest.mark.long
def test_a_cluster_reports_the_metrics_of_one_process(houses, gcloud_env, tmp_path):
    """`make local-train-distributed` trains a chief and two workers in step: every metric the
    cluster reports (the epoch logs, each process's final evaluation, metrics.json, the tuning
    metric) equals what one process computes on the same data and weights; the chief alone
    writes the job's outputs, and each worker deletes its throwaway export. Two workers, so that
    two of the three replicas get an empty share of each last batch's one row: a cluster of one
    worker has nothing to show that this one does not."""
    project, train_csv, eval_csv = houses
    workers = 2
    job_dir = tmp_path / "job"
    scratch = tmp_path / "tmp"  # where the workers' throwaway outputs go
    scratch.mkdir()
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
        env={**gcloud_env, "CLOUD_ML_HP_METRIC_FILE": str(metric_file), "TMPDIR": str(scratch)},
    )
    log = result.stdout + result.stderr
    processes = workers + 1
    strategy = f"Distribution: MultiWorkerMirroredStrategy over {processes} workers"
    assert log.count(f"{strategy}; this is the chief") == 1, log[-4000:]
    assert log.count(f"{strategy}; this is a worker") == workers, log[-4000:]
    exports = re.findall(r"Exported the serving model to (\S+)", log)
    assert sorted(exports).count(str(job_dir / "model")) == 1, exports
    assert len(exports) == processes, exports
    assert all(Path(p).is_relative_to(scratch) for p in exports if p != str(job_dir / "model"))
    assert list(scratch.iterdir()) == [], "a worker left its temporary outputs behind"
    assert sorted(p.name for p in job_dir.iterdir()) == ["logs", "metrics.json", "model"]
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

# Enough for a job killed in epoch 2, then again in epoch 3, to start afresh, resume, and resume
# again to the end: more epochs would only repeat what a run checks.
EPOCHS = 3


class Training:
    """`make local-train` (no workers) or `make local-train-distributed`, in a process group of its
    own, with `settings` (make variables) and `trainer_args` added. Given `metric_pipe`, the chief
    writes its tuning metric to that named pipe after every evaluation, and cannot open it until
    the test does: each epoch's evaluation waits for the test to read the report, so the job gets
    no further than the test lets it."""

    def __init__(
        self,
        project: Path,
        job_dir: Path,
        log: Path,
        workers: int,
        *,
        env: dict[str, str],
        settings: Sequence[str] = (),
        trainer_args: Sequence[str] = (),
        metric_pipe: Path | None = None,
    ):
        self.job_dir, self.log, self.processes = job_dir, log, workers + 1
        self.metric_pipe = metric_pipe
        cluster = [f"WORKERS={workers}", f"START_PORT={free_ports(workers + 1)}"] if workers else []
        args = ["--num-epochs", str(EPOCHS), "--early-stopping-patience", "0", *trainer_args]
        command = [
            *("make", "local-train-distributed" if workers else "local-train", MAKE_VENV),
            *cluster,
            *settings,
            f"JOB_DIR={job_dir}",
            f"TRAINER_ARGS={' '.join(args)}",
        ]
        env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", **env}
        if metric_pipe:
            env["CLOUD_ML_HP_METRIC_FILE"] = str(metric_pipe)
        with log.open("w") as out:
            self.process = subprocess.Popen(
                command,
                cwd=project,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def __enter__(self) -> Training:
        return self

    def __exit__(self, *exc_info) -> None:
        """Kills whatever is left of the job, so that a failed test leaves no process behind."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def output(self) -> str:
        return self.log.read_text()

    def fail(self, what: str) -> None:
        pytest.fail(f"{what}:\n{self.output()[-4000:]}")

    def read_report(self) -> int:
        """Lets the chief write its next report, reads it, and returns the epoch it reports."""
        pipe = os.open(self.metric_pipe, os.O_RDONLY | os.O_NONBLOCK)
        try:  # the chief's report can now open the pipe; it rewrites every report of the run
            poll = select.poll()
            poll.register(pipe, select.POLLIN)
            content = b""
            while True:
                if not poll.poll(1000):
                    if self.process.poll() is not None:
                        self.fail("the job ended before its next report")
                elif chunk := os.read(pipe, 65536):
                    content += chunk
                else:  # the chief closed the file
                    break
        finally:
            os.close(pipe)  # before its next report, which takes an epoch's training
        return int(json.loads(content.splitlines()[-1])["global_step"])

    def wait_until(self, condition, what: str) -> None:
        """Polls for a state the job reaches and then cannot leave: how soon it is seen does not
        matter. The deadline only ends a test that would hang."""
        deadline = time.monotonic() + 600
        while not condition():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.fail(f"the job never reached {what}")
            time.sleep(0.05)

    def kill_in_epoch(self, epoch: int, from_epoch: int) -> None:
        """Lets the chief report epochs `from_epoch` to `epoch - 1`, then SIGKILLs the whole job
        (make, gcloud and every training process) once the state of epoch `epoch - 1` is on disk
        and every process has begun epoch `epoch`. The chief's report of `epoch` is never read,
        so the job cannot finish that epoch, let alone save it, however long the kill takes."""
        for reported in range(from_epoch, epoch):
            assert self.read_report() == reported
        self.wait_until(
            lambda: (
                saved_epoch(self.job_dir) == epoch - 1
                and self.output().count(f"Epoch {epoch}/{EPOCHS}\n") == self.processes
            ),
            f"the saved state of epoch {epoch - 1} and the start of epoch {epoch}",
        )
        os.killpg(self.process.pid, signal.SIGKILL)
        assert self.process.wait() == -signal.SIGKILL

    def finish(self) -> str:
        if self.process.wait(timeout=600) != 0:
            self.fail("the job failed")
        return self.output()


def saved_epoch(job_dir: Path) -> int | None:
    """The epoch counter in the saved training state (Keras BackupAndRestore's own record), or
    None before the first save and while it is being written."""
    try:
        return json.loads((job_dir / "checkpoints/training_metadata.json").read_text())["epoch"]
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def epochs_begun(log: str) -> list[int]:
    """The epochs any process of the job began, in the order they began."""
    return [int(n) for n, total in EPOCH_LINE.findall(log) if int(total) == EPOCHS]


def assert_resumed(log: str, job_dir: Path, done: int) -> None:
    assert (
        f"Resumed from the checkpoint in {job_dir}/checkpoints after epoch {done} of {EPOCHS}; "
        f"training goes on with epoch {done + 1}"
    ) in log
    assert min(epochs_begun(log)) == done + 1, "no process runs a finished epoch again"


def preempted_training(
    project: Path,
    job_dir: Path,
    tmp_path: Path,
    workers: int,
    killed_in: Sequence[int],
    *,
    env: dict[str, str],
    settings: Sequence[str] = (),
    trainer_args: Sequence[str] = (),
) -> str:
    """Runs the job (`workers` beside the chief) and SIGKILLs it in each epoch of `killed_in` in
    turn, restarting it with the same job dir, then lets its last run finish; returns that run's
    log. The first run, with no saved state, starts afresh; each later run goes on after the
    epoch saved last, and the last one exports the model and deletes the saved state."""
    scratch = tmp_path / "tmp"  # where a worker's outputs go (a killed one leaves them)
    scratch.mkdir()
    metric_pipe = tmp_path / "hypertune.metrics"
    os.mkfifo(metric_pipe)
    env = {**env, "TMPDIR": str(scratch)}
    job = {"env": env, "settings": settings, "trainer_args": trainer_args}

    done = 0  # the epochs saved so far
    for number, epoch in enumerate(killed_in, start=1):
        log = tmp_path / f"killed{number}.log"
        with Training(project, job_dir, log, workers, metric_pipe=metric_pipe, **job) as killed:
            killed.kill_in_epoch(epoch, from_epoch=done + 1)
        assert saved_epoch(job_dir) == epoch - 1
        if done:
            assert_resumed(killed.output(), job_dir, done)
        else:
            assert "Resumed" not in killed.output()
        done = epoch - 1

    with Training(project, job_dir, tmp_path / "last.log", workers, **job) as training:
        last = training.finish()
    assert_resumed(last, job_dir, done)
    assert sorted(set(epochs_begun(last))) == list(range(done + 1, EPOCHS + 1))
    assert (job_dir / "model/saved_model.pb").exists()
    assert not (job_dir / "checkpoints").exists(), "the saved state outlived the export"
    return last


@pytest.mark.long
def test_local_train_killed_twice_resumes_where_it_stopped_and_serves_the_species(
    default_project, gcloud_env, tmp_path
):
    """`make local-train` runs the package as the cloud does, through gcloud, in one process.
    Killed in epoch 2, then again in epoch 3 after resuming, it resumes each time after its last
    saved epoch; its last run writes the metrics of its final evaluation, beats the majority
    class and serves the right species."""
    job_dir = tmp_path / "job"
    log = preempted_training(default_project, job_dir, tmp_path, 0, (2, 3), env=gcloud_env)
    assert "Distribution: the default strategy (one process, no GPUs)" in log
    [metrics] = final_evaluations(log)
    assert json.loads((job_dir / "metrics.json").read_text()) == metrics
    assert_beats_the_majority_class(default_project, metrics["accuracy"])
    assert served_classes(job_dir / "model", default_project, gcloud_env) == INSTANCE_SPECIES
