"""Surviving preemption: training state saved every epoch, and resumed from on restart.

Keras' `BackupAndRestore` saves the weights, the optimizer and the epoch counter at the end of
each epoch; a restarted job with the same checkpoint directory restores them before `fit`
starts and goes on with the next epoch, so no finished epoch runs twice. The state is kept
until the model is exported (not only until `fit` returns), so that a job stopped while it
evaluates or exports does not train again from the start.
"""

from __future__ import annotations

import logging

import keras
import tensorflow as tf


class CheckpointMismatchError(ValueError):
    """The saved training state belongs to another model: other hyperparameters or data."""


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' callback, with a clear error for a saved state that does not fit the model."""

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except ValueError as err:
            raise CheckpointMismatchError(
                f"{self.backup_dir}: the saved training state does not fit this model "
                "(it was saved with other hyperparameters or data). Rerun with those to "
                "resume, or delete the directory to start afresh."
            ) from err


class LogResumption(keras.callbacks.Callback):
    """Says where training resumed from, when `BackupAndRestore` found a saved state."""

    def __init__(self, checkpoint_dir: str, epochs: int):
        super().__init__()
        self.checkpoint_dir = checkpoint_dir
        self.epochs = epochs
        self._first_epoch = True

    def on_train_begin(self, logs=None):
        self._first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch and epoch > 0:
            logging.info(
                "Resumed from the checkpoint in %s after epoch %d of %d; "
                "training goes on with epoch %d",
                self.checkpoint_dir,
                epoch,
                self.epochs,
                epoch + 1,
            )
        self._first_epoch = False

    def on_train_end(self, logs=None):
        if self._first_epoch:
            logging.info(
                "Resumed from the checkpoint in %s after epoch %d of %d: training was done",
                self.checkpoint_dir,
                self.epochs,
                self.epochs,
            )


def callbacks(checkpoint_dir: str, epochs: int) -> list[keras.callbacks.Callback]:
    """Saves the training state to `checkpoint_dir` every epoch, and restores it on restart."""
    return [
        # Two generations: a state half-written when the job was killed falls back to the
        # previous one instead of failing the restart.
        BackupAndRestore(checkpoint_dir, double_checkpoint=True, delete_checkpoint=False),
        LogResumption(checkpoint_dir, epochs),
    ]


def discard(checkpoint_dir: str) -> None:
    """Deletes the saved state once the job's outputs are written: the next run starts afresh."""
    if tf.io.gfile.exists(checkpoint_dir):
        tf.io.gfile.rmtree(checkpoint_dir)
