"""The trained model: it beats a guess without features, and its export serves raw CSV values
as the Keras model predicts them."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from trainer import inputs, model
from trainer.features import SCHEMA
from trainer.hparams import MODEL_TYPES, HParams

from conftest import synthetic_rows


def _raw_instances(n: int) -> dict[str, tf.Tensor]:
    """Feature values as the serving signature takes them: each feature's CSV values as its kind
    decodes them (trainer/kinds; a missing number is NaN), as tensors."""
    rows = synthetic_rows(SCHEMA, n, seed=11)
    return {
        name: kind.decode(tf.constant([row[name] for row in rows]))
        for name, kind in SCHEMA.feature_kinds.items()
    }


def test_training_reports_final_metrics(trained):
    result, job_dir = trained
    assert math.isfinite(result.metrics["loss"]), result.metrics
    assert json.loads((job_dir / "metrics.json").read_text()) == result.metrics
    assert any((job_dir / "logs").iterdir()), "no TensorBoard logs"


def test_signature_takes_one_raw_input_per_feature(trained):
    _, job_dir = trained
    loaded = tf.saved_model.load(str(job_dir / "model"))
    _, inputs = loaded.signatures["serving_default"].structured_input_signature
    assert sorted(inputs) == sorted(SCHEMA.features)
    for name, spec in inputs.items():
        assert spec.shape.as_list() == [None]
        assert spec.dtype == SCHEMA.feature_kinds[name].dtype, name


def test_signature_outputs_are_named_for_the_task(trained):
    result, job_dir = trained
    loaded = tf.saved_model.load(str(job_dir / "model"))
    outputs = loaded.signatures["serving_default"](**_raw_instances(5))
    if SCHEMA.is_classification:
        assert set(outputs) == {"probabilities", "classes"}
        assert outputs["probabilities"].shape == (5, len(result.stats.classes))
        assert outputs["classes"].shape == (5,)
        assert outputs["classes"].dtype == tf.string
    else:
        assert set(outputs) == {"predictions"}
        assert outputs["predictions"].shape == (5,)


def test_reloaded_model_predicts_as_the_keras_model(trained):
    result, job_dir = trained
    instances = _raw_instances(32)
    loaded = tf.saved_model.load(str(job_dir / "model"))
    served = loaded.signatures["serving_default"](**instances)
    expected = result.model(instances, training=False).numpy()
    if SCHEMA.is_classification:
        np.testing.assert_allclose(served["probabilities"], expected, rtol=1e-5, atol=1e-6)
        # Each row's class is the label of the Keras model's most probable class.
        keras_classes = np.take(result.stats.classes, expected.argmax(axis=-1))
        assert served["classes"].numpy().astype(str).tolist() == keras_classes.tolist()
    else:  # the Keras model predicts [batch, 1], the shape its loss needs; the export [batch]
        assert expected.shape == (32, 1)
        np.testing.assert_allclose(served["predictions"], expected[:, 0], rtol=1e-5, atol=1e-6)


def _metrics_over_every_row(model_dir: Path, eval_file: Path, classes: list[str]) -> dict:
    """The evaluation metrics computed from the served outputs on every row at once (float64)."""
    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    labels, outputs = [], []
    for features, label in inputs.make_dataset([str(eval_file)], SCHEMA, classes, 32, False):
        labels.append(label.numpy())
        output = serve(**features)
        outputs.append(output["probabilities" if SCHEMA.is_classification else "predictions"])
    labels, outputs = np.concatenate(labels), np.concatenate(outputs).astype("float64")
    if SCHEMA.is_classification:
        # Not clipped: Keras' cross-entropy takes the logits that its Softmax output carries, so a
        # row whose class has probability 1e-9 costs -log(1e-9) = 20.7, not -log(1e-7) = 16.1.
        chosen = outputs[np.arange(len(labels)), labels]
        return {"loss": -np.log(chosen).mean(), "accuracy": (outputs.argmax(1) == labels).mean()}
    error = outputs - labels
    mse = np.mean(error**2)
    return {"loss": mse, "rmse": np.sqrt(mse), "mean_absolute_error": np.abs(error).mean()}


def test_the_final_metrics_are_those_of_every_evaluation_row(trained, data_dir):
    """120 rows in batches of 32: a short last batch counts for its rows, not as a full batch."""
    result, job_dir = trained
    expected = _metrics_over_every_row(
        job_dir / "model", data_dir / "eval.csv", result.stats.classes
    )
    assert result.metrics == pytest.approx(expected, rel=1e-5)


def _labels(csv_file: Path, classes: list[str]) -> np.ndarray:
    """The labels of a file as the trainer reads them: class indices, or numbers."""
    batches = inputs.make_dataset([str(csv_file)], SCHEMA, classes, 256, False)
    return np.concatenate([label.numpy() for _, label in batches])


def test_the_model_halves_the_error_of_a_guess_without_features(trained, data_dir):
    """On the evaluation rows, which training never saw, the model makes at most half the error
    of the best guess that ignores the features: the training rows' most frequent class (its
    rate is the accuracy to beat), or their mean label (its RMSE is the one to beat)."""
    result, _ = trained
    train_labels = _labels(data_dir / "train.csv", result.stats.classes)
    eval_labels = _labels(data_dir / "eval.csv", result.stats.classes)
    if SCHEMA.is_classification:
        majority = np.bincount(train_labels).argmax()
        baseline_error = np.mean(eval_labels != majority)
        error = 1 - result.metrics["accuracy"]
    else:
        baseline_error = np.sqrt(np.mean((eval_labels - train_labels.mean()) ** 2))
        error = result.metrics["rmse"]
    assert error <= baseline_error / 2, f"error {error:.3f}; without features {baseline_error:.3f}"


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_each_model_type_builds_its_family_for_this_schema(data_dir, model_type):
    """build_model dispatches on the model type: the family's model takes this project's raw
    features and gives a prediction per row; only linear has no hidden layers."""
    stats = inputs.scan([str(data_dir / "train.csv")], SCHEMA)
    keras_model = model.build_model(SCHEMA, stats, replace(HParams(), model_type=model_type))
    assert keras_model.name == model_type
    hidden = [layer.name for layer in keras_model.layers if layer.name.startswith("hidden_")]
    assert bool(hidden) == (model_type != "linear"), hidden
    outputs = len(stats.classes) if SCHEMA.is_classification else 1
    assert tuple(keras_model(_raw_instances(5)).shape) == (5, outputs)


def test_a_model_type_without_its_function_is_refused_naming_what_to_add():
    with pytest.raises(ImportError, match=r"add gbdt_outputs\(schema, stats, features, hp\) to"):
        model.families([*MODEL_TYPES, "gbdt"])
    assert list(model.FAMILIES) == list(MODEL_TYPES)
