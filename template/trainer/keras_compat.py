"""A narrow fix that lets Keras 3 `model.fit` train under MultiWorkerMirroredStrategy.

Keras 3.15 with TensorFlow 2.21 fails twice on a multi-worker cluster:

1. keras-team/keras#20585 (https://github.com/keras-team/keras/issues/20585): before the first
   step, `fit` builds the model from one batch that it averages across workers with
   `strategy.reduce("MEAN", batch)`. That fails on a dict of features, and could never average
   string features anyway. The fix builds from the dataset's element spec: only shapes and
   dtypes matter there, and pulling no batch spares each worker a re-read of its files' first
   blocks.
2. Once past that, every step averages its scalar metrics across workers with
   `strategy.reduce("MEAN", value, axis=0)`, and a scalar has no axis 0. The fix reduces scalars
   with `axis=None`, as `tf.distribute` expects.

Both patches are applied only for the Keras versions they were proven on (`PROVEN_ON`); under
any other version they are left out with a warning, since the private code they replace may have
changed. The tests run two real workers through `gcloud ai-platform local train --distributed`.
"""

from __future__ import annotations

import logging

import keras
from keras.src import tree
from keras.src.backend.tensorflow import trainer as tf_trainer

# (major, minor) versions of Keras these patches were tested on, with TensorFlow 2.21.
PROVEN_ON = ((3, 15),)

_patched = False


def _keras_version() -> tuple[int, int]:
    major, minor = keras.__version__.split(".")[:2]
    return int(major), int(minor)


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    """`TensorFlowTrainer._maybe_symbolic_build`, building from the element spec (fix 1)."""
    if self._distribute_strategy is None:
        return
    if iterator is not None:
        data_batch = iterator.data_adapter.get_tf_dataset().element_spec
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _reduce_scalars_without_axis(reduce_per_replica):
    """Wraps `reduce_per_replica` so that scalars are averaged across workers (fix 2)."""

    def patched(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(
            strategy
        ):

            def mean(value):
                rank = strategy.experimental_local_results(value)[0].shape.rank
                return strategy.reduce("MEAN", value, axis=None if rank == 0 else 0)

            return tree.map_structure(mean, values)
        return reduce_per_replica(values, strategy, reduction)

    return patched


def patch_for_multi_worker() -> bool:
    """Applies both fixes once, if this Keras is a proven version; says whether they apply."""
    global _patched  # noqa: PLW0603 -- patching is process-wide, and must happen once
    if _patched:
        return True
    if _keras_version() not in PROVEN_ON:
        logging.warning(
            "Keras %s is not a version the multi-worker fixes were proven on (%s); they are "
            "not applied. If fit fails (keras-team/keras#20585), pin the versions in "
            "requirements.txt.",
            keras.__version__,
            ", ".join(f"{major}.{minor}" for major, minor in PROVEN_ON),
        )
        return False
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = _reduce_scalars_without_axis(tf_trainer.reduce_per_replica)
    _patched = True
    return True
