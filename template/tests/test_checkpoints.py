"""Resuming from a saved training state, as a restarted (preempted) job does."""

from __future__ import annotations

import logging
import re
from dataclasses import replace

import numpy as np
import pytest

from trainer import checkpoints, inputs, model
from trainer.features import SCHEMA
from trainer.hparams import HParams

from conftest import train_in

HP = HParams(num_epochs=3, batch_size=64, early_stopping_patience=0)


def save_state_after_epochs(data_dir, checkpoint_dir, epochs: int, hp: HParams):
    """What BackupAndRestore leaves behind when a job is killed after `epochs` epochs; returns
    the model whose state it saved."""
    stats = inputs.scan([str(data_dir / "train.csv")], SCHEMA)
    keras_model = model.build_model(SCHEMA, stats, hp)
    keras_model.optimizer.build(keras_model.trainable_variables)
    (callback, _) = checkpoints.callbacks(str(checkpoint_dir), hp.num_epochs)
    callback.set_model(keras_model)
    callback.on_epoch_end(epochs - 1)
    return keras_model


def train(data_dir, job_dir, hp: HParams) -> model.TrainingResult:
    return train_in(job_dir, data_dir, hp, seed=None)


def test_a_restarted_job_goes_on_after_the_saved_epoch(data_dir, tmp_path, caplog):
    save_state_after_epochs(data_dir, tmp_path / "checkpoints", 2, HP)
    with caplog.at_level(logging.INFO):
        train(data_dir, tmp_path, HP)
    assert (
        f"Resumed from the checkpoint in {tmp_path / 'checkpoints'} after epoch 2 of 3; "
        "training goes on with epoch 3"
    ) in caplog.text
    assert (tmp_path / "model" / "saved_model.pb").exists()
    assert not (tmp_path / "checkpoints").exists(), "the state is discarded once exported"


def test_a_job_stopped_after_its_last_epoch_exports_the_saved_weights(data_dir, tmp_path, caplog):
    saved = save_state_after_epochs(data_dir, tmp_path / "checkpoints", HP.num_epochs, HP)
    with caplog.at_level(logging.INFO):
        result = train(data_dir, tmp_path, HP)
    assert (
        f"Resumed from the checkpoint in {tmp_path / 'checkpoints'} after epoch 3 of 3: "
        "training was done"
    ) in caplog.text
    assert [w.path for w in result.model.weights] == [w.path for w in saved.weights]
    for restored, original in zip(result.model.weights, saved.weights, strict=True):
        np.testing.assert_array_equal(restored.numpy(), original.numpy())


def test_a_state_saved_by_another_model_is_a_clear_error(data_dir, tmp_path):
    save_state_after_epochs(data_dir, tmp_path / "checkpoints", 1, HP)
    other = replace(HP, hidden_units=(5,), model_type="dnn")
    with pytest.raises(
        checkpoints.CheckpointMismatchError,
        match=re.escape(f"{tmp_path / 'checkpoints'}: the saved training state does not fit"),
    ):
        train(data_dir, tmp_path, other)
