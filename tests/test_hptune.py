"""Hyperparameter tuning in the generated project, as a team tries it before paying for it:
one trainer run as a Vertex AI trial, and `make hptune-local` on the sample data.
(scripts/hptune.sh's request to Vertex AI is in test_submit.py.)"""

from __future__ import annotations

import csv
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from conftest import BAD_TUNING_PARAMETERS, VENV_BIN, run

MAKE_VENV = f"VENV={VENV_BIN.parent}"
METRIC = "val_accuracy"  # the default project's metricId (a classifier)
HPARAMS_LINE = re.compile(r"Hyperparameters: HParams\((.*)\)")


def metric_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def files_under(directory: Path) -> set[Path]:
    return {p.relative_to(directory) for p in directory.rglob("*") if p.is_file()}


def test_a_trial_reports_the_final_evaluation_through_hypertune(default_project, tmp_path):
    job_dir, metric_file = tmp_path / "job", tmp_path / "hypertune" / "output.metrics"
    run(
        [
            *(str(VENV_BIN / "python"), "-m", "trainer.task"),
            *("--train-files", "data/train.csv", "--eval-files", "data/eval.csv"),
            *("--job-dir", str(job_dir), "--num-epochs", "3"),
        ],
        cwd=default_project,
        env={"CLOUD_ML_TRIAL_ID": "3", "CLOUD_ML_HP_METRIC_FILE": str(metric_file)},
    )
    # The trial's outputs went to its own directory under the shared job dir.
    assert [p.name for p in job_dir.iterdir()] == ["3"]
    assert (job_dir / "3/model/saved_model.pb").is_file()
    final = json.loads((job_dir / "3/metrics.json").read_text())

    lines = metric_lines(metric_file)
    assert [line["global_step"] for line in lines] == ["1", "2", "3", "3"]
    assert all(line["trial"] == "3" and METRIC in line for line in lines)
    # The last report is the final evaluation that Keras returned, to the last bit.
    assert float(lines[-1][METRIC]) == final["accuracy"]


@pytest.fixture(scope="module")
def swept(default_project, tmp_path_factory):
    """`make hptune-local`: 4 trials, 2 at a time, 2 epochs each, on the sample data."""
    output_dir = tmp_path_factory.mktemp("sweep") / "run"
    sweep_args = f"--trials 4 --parallel 2 --seed 1 --num-epochs 2 --output-dir {output_dir}"
    result = run(
        ["make", "--silent", "hptune-local", MAKE_VENV, f"SWEEP_ARGS={sweep_args}"],
        cwd=default_project,
    )
    with (output_dir / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    return result, output_dir, rows


def test_a_local_sweep_gives_each_trial_its_own_outputs(swept):
    result, output_dir, _ = swept
    ids = ["1", "2", "3", "4"]
    assert sorted(p.name for p in output_dir.iterdir()) == [*ids, "results.csv"]
    settings = set()
    for trial in ids:
        directory = output_dir / trial
        assert (directory / "model/saved_model.pb").is_file(), f"trial {trial} exported nothing"
        files = files_under(directory)
        assert {Path("metrics.json"), Path("hypertune.metrics"), Path("train.log")} <= files
        # The trainer of this trial named only its own directory, and ran its own settings.
        log = (directory / "train.log").read_text()
        named = set(re.findall(re.escape(str(output_dir)) + r"/([^/\s]+)/", log))
        assert named == {trial}, f"trial {trial} wrote to {named}"
        assert {line["trial"] for line in metric_lines(directory / "hypertune.metrics")} == {trial}
        (hparams,) = HPARAMS_LINE.findall(log)
        settings.add(hparams)
    assert len(settings) == 4, "two trials ran the same hyperparameters"
    # No file is written by two trials: the trials' files are the sweep's files, each once.
    every = [(t, f) for t in ids for f in files_under(output_dir / t)]
    assert len({Path(t) / f for t, f in every}) == len(every)
    assert files_under(output_dir) == {Path(t) / f for t, f in every} | {Path("results.csv")}

    progress = [line for line in result.stdout.splitlines() if re.match(r"\[\d/4\] trial", line)]
    assert [line[:5] for line in progress] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]


def test_the_ranking_matches_the_trials_metric_files(swept, default_project):
    result, output_dir, rows = swept
    assert [row["rank"] for row in rows] == ["1", "2", "3", "4"]
    values = []
    for row in rows:
        lines = metric_lines(output_dir / row["trial"] / "hypertune.metrics")
        assert row[METRIC] == lines[-1][METRIC]
        assert row["epoch"] == lines[-1]["global_step"] == "2"
        final = json.loads((output_dir / row["trial"] / "metrics.json").read_text())
        assert float(row[METRIC]) == final["accuracy"]
        values.append(float(row[METRIC]))
    assert values == sorted(values, reverse=True)  # MAXIMIZE: best first

    # The printed table is the CSV's, in the same order; the best trial's arguments follow.
    config = yaml.safe_load((default_project / "config/hptuning.yaml").read_text())
    parameters = [p["parameterId"] for p in config["studySpec"]["parameters"]]
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:3] == ["rank", "trial", METRIC])
    printed = [line.split() for line in lines[start + 1 : start + 5]]
    assert [cells[1] for cells in printed] == [row["trial"] for row in rows]
    best = rows[0]
    arguments = next(line for line in lines if line.startswith("Its arguments: "))
    assert shlex.split(arguments.removeprefix("Its arguments: ")) == [
        f"--{name}={best[name]}" for name in parameters
    ]


def sweep_with(project, tmp_path, config: dict):
    """`make hptune-local` on `config`, written to a file of its own; returns the file, the
    sweep's output directory and the result."""
    bad = tmp_path / "hptuning.yaml"
    bad.write_text(yaml.safe_dump(config, sort_keys=False))
    output_dir = tmp_path / "sweep"
    result = run(
        [
            *("make", "--silent", "hptune-local", MAKE_VENV),
            f"SWEEP_ARGS=--config {bad} --output-dir {output_dir}",
        ],
        cwd=project,
        check=False,
    )
    return bad, output_dir, result


@pytest.mark.parametrize(
    ("parameter", "message"),
    BAD_TUNING_PARAMETERS,
)
def test_a_bad_tuning_config_is_refused_before_any_trial(
    default_project, tmp_path, parameter, message
):
    config = yaml.safe_load((default_project / "config/hptuning.yaml").read_text())
    config["studySpec"]["parameters"].append(parameter)
    bad, output_dir, result = sweep_with(default_project, tmp_path, config)
    assert result.returncode != 0
    assert f"error: {bad}: {message}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not output_dir.exists(), "a trial started"


def test_a_goal_against_the_metrics_direction_is_refused_before_any_trial(
    default_project, tmp_path
):
    """val_accuracy with goal MINIMIZE would rank the worst trial first and recommend it."""
    config = yaml.safe_load((default_project / "config/hptuning.yaml").read_text())
    (metric,) = config["studySpec"]["metrics"]
    assert metric == {"metricId": METRIC, "goal": "MAXIMIZE"}
    metric["goal"] = "MINIMIZE"
    bad, output_dir, result = sweep_with(default_project, tmp_path, config)
    assert result.returncode != 0
    assert (
        f"error: {bad}: a higher {METRIC} is better, but the goal is MINIMIZE, which would rank "
        "the worst trial first: set goal: MAXIMIZE"
    ) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not output_dir.exists(), "a trial started"
