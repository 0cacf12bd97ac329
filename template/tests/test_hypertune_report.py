"""The tuning metric, as cloudml-hypertune writes it for Vertex AI."""

from __future__ import annotations

import json

import pytest

from trainer.features import SCHEMA
from trainer.trial import TUNING_METRICS

# HypertuneReporter is a Keras callback: the tests import it, and TensorFlow with it, themselves.
METRIC = TUNING_METRICS[SCHEMA.task_type][0]
NAME = METRIC.removeprefix("val_")  # as `evaluate` logs it


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def metric_file(tmp_path, monkeypatch):
    path = tmp_path / "hypertune" / "output.metrics"
    monkeypatch.setenv("CLOUD_ML_HP_METRIC_FILE", str(path))
    monkeypatch.setenv("CLOUD_ML_TRIAL_ID", "9")
    return path


def test_every_evaluation_is_reported_with_its_epoch(metric_file):
    from trainer.hypertune_report import HypertuneReporter  # noqa: PLC0415 -- TensorFlow

    reporter = HypertuneReporter(METRIC)
    for epoch, value in enumerate([0.5, 0.25, 0.125]):
        reporter.on_epoch_begin(epoch)
        reporter.on_test_end({NAME: value, "loss": 1.0})
    reporter.on_test_end({NAME: 0.0625, "loss": 1.0})  # the final `evaluate`, after training
    lines = read_lines(metric_file)
    assert [(line["global_step"], line[METRIC]) for line in lines] == [
        ("1", "0.5"),
        ("2", "0.25"),
        ("3", "0.125"),
        ("3", "0.0625"),
    ]
    assert {line["trial"] for line in lines} == {"9"}


def test_a_metric_the_model_does_not_evaluate_is_a_clear_error(metric_file):
    from trainer.hypertune_report import HypertuneReporter  # noqa: PLC0415 -- TensorFlow

    reporter = HypertuneReporter("val_auc")
    with pytest.raises(ValueError, match=r"val_auc is not among the evaluation metrics \(val_"):
        reporter.on_test_end({NAME: 0.5})
    with pytest.raises(ValueError, match="must be an evaluation metric"):
        HypertuneReporter(NAME)
    assert not metric_file.exists()
