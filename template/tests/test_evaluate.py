"""`make evaluate` (workflow.evaluate): the exported model, scored on a CSV file, reports what
training reported on it; what it cannot score is one error line, and exit status 1."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from trainer.features import SCHEMA
from workflow import evaluate


def test_the_metrics_on_the_eval_file_are_trainings(trained, data_dir, tmp_path, capsys):
    """Training's final evaluation ran on eval.csv: the command finds the same metrics under the
    same names, prints them and writes them as JSON. (In this process, which has TensorFlow
    loaded already; the template's own tests run `make evaluate`.)"""
    _, job_dir = trained
    output = tmp_path / "evaluation.json"
    model_dir, eval_file = str(job_dir / "model"), str(data_dir / "eval.csv")
    status = evaluate.main([model_dir, "--eval-files", eval_file, "--output", str(output)])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    trained_metrics = json.loads((job_dir / "metrics.json").read_text())
    metrics = json.loads(output.read_text())
    assert metrics == pytest.approx(trained_metrics, rel=1e-5, abs=1e-6)
    printed = dict(line.split() for line in printed.out.splitlines() if line.startswith("  "))
    assert {name: float(value) for name, value in printed.items()} == pytest.approx(
        trained_metrics, rel=1e-5, abs=1e-6
    )


def _refused(argv: list[str], capsys) -> str:
    """The one error line of a refused evaluation (exit status 1)."""
    assert evaluate.main(argv) == 1
    [error] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    return error


def test_no_model_is_refused(data_dir, tmp_path, capsys):
    error = _refused([str(tmp_path / "model"), "--eval-files", str(data_dir / "eval.csv")], capsys)
    assert error == (
        f"error: {tmp_path / 'model'}: no exported model here; run `make train` first "
        "(or `make fetch JOB=ID` for a cloud job's, then JOB_DIR=outputs/ID)"
    )


def _rewritten(source: Path, target: Path, change) -> Path:
    with source.open(newline="") as f:
        header, *rows = csv.reader(f)
    header, rows = change(header, rows)
    with target.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return target


def test_a_file_without_a_declared_column_is_refused(trained, data_dir, tmp_path, capsys):
    _, job_dir = trained
    missing = SCHEMA.features[0]
    path = _rewritten(
        data_dir / "eval.csv",
        tmp_path / "eval.csv",
        lambda header, rows: ([f"{h}_x" if h == missing else h for h in header], rows),
    )
    output = tmp_path / "evaluation.json"
    error = _refused(
        [str(job_dir / "model"), "--eval-files", str(path), "--output", str(output)], capsys
    )
    assert error.startswith(f"error: {path}: declared column(s) {missing} missing from the header")
    assert not output.exists()


@pytest.mark.skipif(not SCHEMA.is_classification, reason="a regression has no classes")
def test_a_label_the_model_does_not_know_is_refused(trained, data_dir, tmp_path, capsys):
    _, job_dir = trained

    def unknown_class(header, rows):
        rows[4][header.index(SCHEMA.label)] = "never-a-class"
        return header, rows

    path = _rewritten(data_dir / "eval.csv", tmp_path / "eval.csv", unknown_class)
    error = _refused([str(job_dir / "model"), "--eval-files", str(path)], capsys)
    assert error.startswith(f"error: {path}: column '{SCHEMA.label}' has label value(s) ")
    assert "'never-a-class'" in error
