"""Benchmark 1: is training input-bound?

One epoch of the generated default model fed by the generated input function (`make_dataset`),
against the same model on the same rows held in memory as tensors, and against
`tf.data.experimental.make_csv_dataset`, the common default. Also the input pipeline's rows/s
alone against a raw read of the file. Run inside a generated project (cwd), by benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.getcwd())  # the generated project's trainer package
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras
import tensorflow as tf

import quick
from synthetic import write_csv
from trainer import inputs, model
from trainer.features import SCHEMA
from trainer.hparams import HParams


def timed_fit(build, dataset_fn, repeats: int) -> float:
    """Median seconds of one epoch, each on a freshly built model (the first step's tracing
    is excluded by a warm-up fit of one batch)."""
    times = []
    for _ in range(repeats):
        m = build()
        m.fit(dataset_fn().take(1), epochs=1, verbose=0)
        start = time.perf_counter()
        m.fit(dataset_fn(), epochs=1, verbose=0, shuffle=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def in_memory(path: str, stats, batch_size: int) -> tuple[dict, tf.Tensor]:
    """Every row decoded once, up front, into tensors."""
    features, labels = {}, []
    for batch_features, batch_labels in inputs.make_dataset(
        [path], SCHEMA, stats.classes, 65536, shuffle=False
    ):
        for name, values in batch_features.items():
            features.setdefault(name, []).append(values)
        labels.append(batch_labels)
    return {k: tf.concat(v, 0) for k, v in features.items()}, tf.concat(labels, 0)


def csv_dataset_fn(path: str, stats, batch_size: int):
    """`make_csv_dataset`, typed and labelled as the model needs."""
    header = inputs.read_header(path, SCHEMA)
    selected = [c for c in header if c in SCHEMA.columns]
    defaults = [
        tf.constant(float("nan")) if c in SCHEMA.numeric else tf.constant("") for c in selected
    ]
    defaults[selected.index(SCHEMA.label)] = tf.constant("")
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(stats.classes), tf.range(len(stats.classes), dtype=tf.int64)
        ),
        -1,
    )

    def make():
        return tf.data.experimental.make_csv_dataset(
            path,
            batch_size,
            column_names=header,
            select_columns=selected,
            column_defaults=defaults,
            label_name=SCHEMA.label,
            na_value="NA",
            num_epochs=1,
            shuffle=True,
            shuffle_buffer_size=inputs.SHUFFLE_BUFFER,
        ).map(lambda x, y: (dict(x), table.lookup(y)))  # an OrderedDict would bind by position

    return make


def rows_per_second(dataset: tf.data.Dataset) -> float:
    start, rows = time.perf_counter(), 0
    for _, labels in dataset:
        rows += int(labels.shape[0])
    return rows / (time.perf_counter() - start)


def line_read_rows_per_second(path: str) -> float:
    """TensorFlow reading the file's lines, in blocks, with no decoding: the pipeline's floor."""
    start, rows = time.perf_counter(), 0
    for lines in tf.data.TextLineDataset(path).skip(1).batch(inputs.DECODE_BLOCK):
        rows += int(lines.shape[0])
    return rows / (time.perf_counter() - start)


def raw_read_rows_per_second(path: str, rows: int) -> float:
    start = time.perf_counter()
    with open(path, "rb") as f:
        while f.read(1 << 20):
            pass
    return rows / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=HParams().batch_size)
    parser.add_argument("--repeats", type=int, default=5)
    args = quick.parse_args(parser, {"rows": 1000, "repeats": 1})
    keras.utils.set_random_seed(0)

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train.csv")
        write_csv(path, args.rows)
        stats = inputs.scan([path], SCHEMA)
        hp = HParams(batch_size=args.batch_size)

        def build():
            return model.build_model(SCHEMA, stats, hp)

        def streamed():
            return inputs.make_dataset([path], SCHEMA, stats.classes, args.batch_size, True)

        x, y = in_memory(path, stats, args.batch_size)
        # Whole batches up front, so the baseline pays nothing per row (the last partial batch
        # is dropped: fewer than batch-size rows).
        whole = int(y.shape[0]) // args.batch_size * args.batch_size
        x = {k: tf.reshape(v[:whole], (-1, args.batch_size)) for k, v in x.items()}
        y = tf.reshape(y[:whole], (-1, args.batch_size))

        def memory():
            return tf.data.Dataset.from_tensor_slices((x, y))

        make_csv = csv_dataset_fn(path, stats, args.batch_size)
        stream_s = timed_fit(build, streamed, args.repeats)
        memory_s = timed_fit(build, memory, args.repeats)
        csv_s = timed_fit(build, make_csv, args.repeats)
        pipeline = statistics.median(rows_per_second(streamed()) for _ in range(args.repeats))
        raw = statistics.median(
            raw_read_rows_per_second(path, args.rows) for _ in range(args.repeats)
        )
        lines = statistics.median(line_read_rows_per_second(path) for _ in range(args.repeats))

    n, bs = args.rows, args.batch_size
    print(f"### 1. Input pipeline vs in-memory ({n:,} rows, batch {bs}, median of {args.repeats})")
    print()
    print("| feeding one epoch of the default model | seconds | rows/s | ratio to in-memory |")
    print("|---|---:|---:|---:|")
    for name, seconds in (
        ("in-memory tensors, pre-batched (baseline)", memory_s),
        ("generated input function (streaming CSV)", stream_s),
        ("tf.data.experimental.make_csv_dataset", csv_s),
    ):
        print(f"| {name} | {seconds:.2f} | {n / seconds:,.0f} | {memory_s / seconds:.2f}x |")
    print()
    print("| input alone | rows/s | ratio to raw read | ratio to line read |")
    print("|---|---:|---:|---:|")
    print(f"| raw file read (Python, 1 MiB chunks, baseline) | {raw:,.0f} | 1.00x | |")
    print(
        f"| TensorFlow line read, no decoding (baseline) | {lines:,.0f} | {lines / raw:.4f}x "
        "| 1.00x |"
    )
    print(
        f"| generated input function, no training | {pipeline:,.0f} | {pipeline / raw:.4f}x "
        f"| {pipeline / lines:.2f}x |"
    )
    print()


if __name__ == "__main__":
    main()
