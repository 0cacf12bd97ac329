"""Shared fixtures: small synthetic CSV files shaped by the project's schema, and one trained model.

The data are synthetic so that the tests hold for any schema the project was generated with.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import io
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from trainer import task
from trainer.features import SCHEMA
from trainer.hparams import HParams
from trainer.schema import Schema

CATEGORIES = ("red", "green", "blue")
CLASSES = ("low", "mid", "high")
FIRST_DAY = datetime.date(2023, 1, 1)


def synthetic_rows(schema: Schema, n: int, seed: int) -> list[dict[str, str]]:
    """Rows whose label depends on the features, with some missing values and an unused column."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        row = {"unused_note": f"row {i}"}
        score = 0.0
        for j, name in enumerate(schema.numeric):
            value = rng.gauss(10 * (j + 1), 3)
            score += (value - 10 * (j + 1)) / 3
            row[name] = f"{value:.3f}"
        for name in schema.datetime:  # two years of days, a time in every other row
            day = rng.randrange(730)
            value = (FIRST_DAY + datetime.timedelta(days=day)).isoformat()
            score += math.cos(2 * math.pi * day / 365)  # the season: high in winter
            row[name] = (
                f"{value}T{rng.randrange(24):02d}:{rng.randrange(60):02d}" if i % 2 else value
            )
        for name in schema.categorical:
            value = rng.choice(CATEGORIES)
            score += CATEGORIES.index(value) - 1
            row[name] = value
        if schema.is_classification:
            row[schema.label] = CLASSES[0 if score < -0.5 else 1 if score < 0.5 else 2]
        else:
            row[schema.label] = f"{100 + 10 * score:.3f}"
        if i % 17 == 3:  # a missing feature value, written as pandas and R write them
            row[rng.choice(schema.features)] = rng.choice(["", "NA", "NaN"])
        rows.append(row)
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_module(
    module: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS` in a process of its own: its exit status, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def run_trainer(*flags: str, cwd: Path, env: dict[str, str] | None = None):
    """`python -m trainer.task FLAGS`, as a job runs it: its exit status, stdout and stderr.

    With `env`, in a process of its own, since TensorFlow reads its environment (proxies,
    credentials) once, at start. Without, in this process, which has imported TensorFlow
    already: a new process would spend seconds importing it again for a run that is refused
    before training.
    """
    if env is not None:
        return run_module("trainer.task", *flags, cwd=cwd, env=env)
    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        contextlib.chdir(cwd),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        try:
            status = task.main(list(flags))
        except SystemExit as exit_:  # argparse's refusals
            status = exit_.code
    return subprocess.CompletedProcess(
        ["python", "-m", "trainer.task", *flags], status, stdout.getvalue(), stderr.getvalue()
    )


def the_error_line(result: subprocess.CompletedProcess) -> str:
    """A refused run's one `error:` line: it exited 1, without a traceback."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return error


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """train.csv and eval.csv; the columns are in reverse order, as the header says."""
    directory = tmp_path_factory.mktemp("data")
    for name, n, seed in (("train.csv", 400, 1), ("eval.csv", 120, 2)):
        rows = synthetic_rows(SCHEMA, n, seed)
        write_csv(directory / name, rows, list(reversed(list(rows[0]))))
    return directory


def train_in(job_dir: Path, data: Path, hp: HParams, schema: Schema = SCHEMA, seed: int | None = 0):
    """`train_and_evaluate` on `data`'s train.csv and eval.csv, with its outputs in `job_dir` as
    `python -m trainer.task --job-dir` lays them out; seeded (the same weights and shuffles on
    every run) unless `seed` is None."""
    # TensorFlow only for the tests that train: `pytest tests/test_cloud.py` never waits for it.
    import keras  # noqa: PLC0415

    from trainer import model  # noqa: PLC0415

    if seed is not None:
        keras.utils.set_random_seed(seed)
    return model.train_and_evaluate(
        schema,
        [str(data / "train.csv")],
        [str(data / "eval.csv")],
        hp,
        **dataclasses.asdict(task.output_paths(str(job_dir), {})),
    )


@pytest.fixture(scope="session")
def trained(data_dir, tmp_path_factory):
    """A model trained for a few epochs (seconds on 400 rows) and exported, as
    `python -m trainer.task` does it."""
    job_dir = tmp_path_factory.mktemp("job")
    hp = HParams(num_epochs=8, batch_size=32, early_stopping_patience=0)
    return train_in(job_dir, data_dir, hp), job_dir
