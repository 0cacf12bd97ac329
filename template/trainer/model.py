"""The machine learning: the model families, training, and the serving export. The families build
on the feature kinds' encodings (trainer/kinds: standardized numbers, encoded dates and times,
one-hot or embedded categories).

Knows nothing of Vertex AI: `trainer.task` resolves where files go and calls
`train_and_evaluate`.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

import keras
import numpy as np
import tensorflow as tf

from trainer import checkpoints, distribute, inputs
from trainer.hparams import MODEL_TYPES, HParams
from trainer.inputs import DataStats
from trainer.kinds import Encodings
from trainer.schema import Schema


def _inputs(schema: Schema) -> dict[str, keras.KerasTensor]:
    """One rank-1 input per feature, named as its CSV column, of its kind's dtype: the serving
    signature's inputs."""
    return {
        name: keras.Input(shape=(), name=name, dtype=kind.dtype)
        for name, kind in schema.feature_kinds.items()
    }


def _crosses(buckets: dict, crossable: dict, hp: HParams) -> list:
    """Every pair of features that the wide part crosses, one-hot: the wide part's interactions.
    Two bucketized numbers make hp.numeric_buckets + 1 squared pairs of buckets, each its own
    column; any other pair is hashed into hp.cross_bins columns, where pairs of values collide."""
    depth = hp.numeric_buckets + 1
    blocks = [
        keras.layers.CategoryEncoding(depth * depth, output_mode="one_hot", name=f"{a}_x_{b}")(
            keras.ops.add(keras.ops.multiply(buckets[a], depth), buckets[b])
        )
        for a, b in combinations(buckets, 2)
    ]
    discrete = {**buckets, **crossable}
    return blocks + [
        keras.layers.HashedCrossing(hp.cross_bins, output_mode="one_hot", name=f"{a}_x_{b}")(
            (discrete[a], discrete[b])
        )
        for a, b in combinations(discrete, 2)
        if not (a in buckets and b in buckets)
    ]


def _concat(blocks: list):
    return blocks[0] if len(blocks) == 1 else keras.layers.Concatenate()(blocks)


def _deep(x, hp: HParams):
    for i, units in enumerate(hp.hidden_units):
        x = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
        if hp.dropout > 0:
            x = keras.layers.Dropout(hp.dropout)(x)
    return x


def _head(schema: Schema, stats: DataStats, logits_inputs: list, name: str = "head"):
    """The output: class probabilities, or a prediction on the label's own scale."""
    units = len(stats.classes) if schema.is_classification else 1
    logits = [keras.layers.Dense(units, name=f"{name}_{i}")(x) for i, x in enumerate(logits_inputs)]
    logits = logits[0] if len(logits) == 1 else keras.layers.Add()(logits)
    if schema.is_classification:
        return keras.layers.Softmax(name="probabilities")(logits)
    # The network predicts a standardized label; rescaling keeps its outputs near 1.
    # The output stays [batch, 1], the shape Keras' regression losses and metrics expect: they
    # average over the last axis, so a [batch] output gives them one mean per batch, not one
    # value per row. The mean absolute error then weighs a short last batch as a full one; in a
    # cluster, a replica's empty share makes the loss NaN, and the loss escapes the scaling by
    # 1/replicas (reported, and its gradients summed, once per replica). The export drops the axis.
    mean, variance = stats.mean[schema.label], stats.variance[schema.label]
    return keras.layers.Rescaling(
        scale=float(np.sqrt(variance)) or 1.0, offset=mean, name="predictions"
    )(logits)


# The model families: each is the function `<model type>_outputs` that builds the outputs from
# the raw feature inputs. `build_model` dispatches on hparams.MODEL_TYPES, their names.
# Each family takes its blocks from the feature kinds (trainer/kinds), by use: `dense` (the
# standardized numbers, the encoded dates), `one_hot` (the categories), `embedded` and
# `crossable`.


def linear_outputs(schema: Schema, stats: DataStats, features, hp: HParams):
    """A linear model over normalized numbers and one-hot categories."""
    encode = Encodings(schema, stats, features, hp)
    dense = encode.dense()
    return _head(schema, stats, [_concat(dense + encode.one_hot())])


def dnn_outputs(schema: Schema, stats: DataStats, features, hp: HParams):
    """A deep network over normalized numbers and category embeddings."""
    encode = Encodings(schema, stats, features, hp)
    deep = encode.dense() + encode.embedded()
    return _head(schema, stats, [_deep(_concat(deep), hp)])


def wide_deep_outputs(schema: Schema, stats: DataStats, features, hp: HParams):
    """Wide (one-hot categories and bucketized numbers, and their crosses in pairs) plus deep;
    both parts see the normalized numbers."""
    encode = Encodings(schema, stats, features, hp)
    dense = encode.dense()
    buckets = encode.bucketized()
    bucket_one_hot = [
        keras.layers.CategoryEncoding(
            hp.numeric_buckets + 1, output_mode="one_hot", name=f"{name}_buckets_one_hot"
        )(ids)
        for name, ids in buckets.items()
    ]
    wide = dense + encode.one_hot() + bucket_one_hot + _crosses(buckets, encode.crossable(), hp)
    deep = dense + encode.embedded()
    return _head(schema, stats, [_concat(wide), _deep(_concat(deep), hp)])


def families(model_types: Sequence[str]) -> dict[str, Callable]:
    """Each model type with its function of this module, `<model type>_outputs`."""
    missing = [f"{name}_outputs" for name in model_types if f"{name}_outputs" not in globals()]
    if missing:
        raise ImportError(
            f"trainer/hparams.py's MODEL_TYPES lists a family that trainer/model.py does not "
            f"build: add {', '.join(missing)}(schema, stats, features, hp) to trainer/model.py"
        )
    return {name: globals()[f"{name}_outputs"] for name in model_types}


FAMILIES = families(MODEL_TYPES)


def build_model(schema: Schema, stats: DataStats, hp: HParams) -> keras.Model:
    """A compiled Keras model of the family `hp.model_type` over raw feature inputs."""
    if hp.model_type not in FAMILIES:
        raise ValueError(f"unknown model type {hp.model_type!r}; known: {', '.join(FAMILIES)}")
    features = _inputs(schema)
    outputs = FAMILIES[hp.model_type](schema, stats, features, hp)

    model = keras.Model(features, outputs, name=hp.model_type)
    if schema.is_classification:
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    else:
        loss = "mean_squared_error"
        metrics = [keras.metrics.RootMeanSquaredError(name="rmse"), "mean_absolute_error"]
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=hp.learning_rate), loss=loss, metrics=metrics
    )
    return model


def export_serving_model(model: keras.Model, schema: Schema, stats: DataStats, path: str) -> None:
    """Writes a SavedModel whose `serving_default` takes raw CSV values, one input per feature.

    Classification returns `probabilities` [None, K] and `classes` [None] (label strings);
    regression returns `predictions` [None].
    """
    signature = {
        name: tf.TensorSpec([None], kind.dtype, name=name)
        for name, kind in schema.feature_kinds.items()
    }
    if schema.is_classification:
        classes = tf.constant(stats.classes)

        def serve(features):
            probabilities = model(features, training=False)
            return {
                "probabilities": probabilities,
                "classes": tf.gather(classes, tf.argmax(probabilities, axis=-1)),
            }
    else:

        def serve(features):
            return {"predictions": tf.squeeze(model(features, training=False), axis=-1)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=[signature])
    archive.write_out(path, verbose=False)
    logging.info("Exported the serving model to %s", path)


@dataclass
class TrainingResult:
    model: keras.Model
    stats: DataStats
    metrics: dict[str, float]  # the final evaluation on the eval files


def train_and_evaluate(
    schema: Schema,
    train_files: list[str],
    eval_files: list[str],
    hp: HParams,
    *,
    model_dir: str,
    checkpoint_dir: str,
    tensorboard_dir: str,
    metrics_path: str,
    strategy: tf.distribute.Strategy | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    stats_file: str | None = None,
) -> TrainingResult:
    """Trains on `train_files`, evaluates on `eval_files`, exports to `model_dir`.

    Every file is checked before training starts, so bad data fails in seconds with an
    `inputs.DataError` that names the file and the column. The statistics come from one scan of
    the files, or from `stats_file` (written by `make prepare`) when it still matches them.
    The model is built under `strategy` (default: the current one); `hp.batch_size` is then the
    global batch, split across replicas, and each worker of a cluster reads its own share of the
    files when there are enough of them.
    `callbacks` see every evaluation: `fit`'s after each epoch, and the final `evaluate`.
    """
    train_files = inputs.expand_files(train_files)
    eval_files = inputs.expand_files(eval_files)
    stats = inputs.statistics(schema, train_files, eval_files, stats_file)
    logging.info("Training on %d rows from %d file(s)", stats.rows, len(train_files))

    worker = distribute.worker_share(strategy)
    inputs.log_worker_share(train_files, eval_files, worker, stats.rows)
    # Workers that each keep a share of every batch must read in the same order: one seed.
    seed = inputs.SHUFFLE_SEED if worker else None
    train_data = inputs.make_dataset(
        train_files, schema, stats.classes, hp.batch_size, True, seed=seed, worker=worker
    )
    eval_data = inputs.make_dataset(
        eval_files, schema, stats.classes, hp.batch_size, False, worker=worker
    )

    with (strategy or tf.distribute.get_strategy()).scope():
        model = build_model(schema, stats, hp)
    fit_callbacks = [
        *checkpoints.callbacks(checkpoint_dir, hp.num_epochs),
        keras.callbacks.TensorBoard(tensorboard_dir),
    ]
    if hp.early_stopping_patience > 0:
        fit_callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=hp.early_stopping_patience, restore_best_weights=True
            )
        )
    # Keras warns when a stream of unknown length ends, which is how every epoch here ends.
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    model.fit(
        train_data,
        validation_data=eval_data,
        epochs=hp.num_epochs,
        callbacks=[*fit_callbacks, *callbacks],
        shuffle=False,  # make_dataset shuffles the lines; Keras cannot shuffle a tf.data stream
        verbose=2,
    )
    metrics = model.evaluate(eval_data, return_dict=True, verbose=0, callbacks=list(callbacks))
    metrics = {name: float(value) for name, value in metrics.items()}
    logging.info("Final evaluation: %s", metrics)

    export_serving_model(model, schema, stats, model_dir)
    tf.io.gfile.makedirs(os.path.dirname(metrics_path))
    with tf.io.gfile.GFile(metrics_path, "w") as f:
        json.dump(metrics, f, indent=2)
    checkpoints.discard(checkpoint_dir)
    return TrainingResult(model, stats, metrics)
