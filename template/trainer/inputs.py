"""Reading CSV files, local or `gs://`: header checks, one scan for statistics, and tf.data input.

Each file's header gives its column order. Lines are batched before they are decoded, which
keeps the pipeline fast enough to feed training (one `decode_csv` call per batch, not per row).
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from trainer.schema import MISSING_VALUES, Schema

# Lines per batch when scanning files for statistics.
SCAN_BATCH_SIZE = 4096
# Lines held for shuffling: the files may be sorted (the penguins sample is, by species).
SHUFFLE_BUFFER = 10_000
# Lines decoded per `decode_csv` call. Each call costs the same fixed overhead whatever its size,
# so small training batches are decoded in larger blocks and then re-batched.
DECODE_BLOCK = 2048
# The shuffle seed that `make_dataset(..., seed=SHUFFLE_SEED)` callers share.
SHUFFLE_SEED = 1

_MISSING_BYTES = np.array([value.encode() for value in MISSING_VALUES], dtype=object)


class DataError(ValueError):
    """Input data the trainer cannot use; the message names the file and the column."""


@dataclass
class DataStats:
    """What one pass over the training files learns, to build the preprocessing layers."""

    rows: int = 0
    dropped_rows: int = 0  # rows whose label is missing
    mean: dict[str, float] = field(default_factory=dict)
    variance: dict[str, float] = field(default_factory=dict)
    vocabularies: dict[str, list[str]] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)  # classification labels, sorted


# What TensorFlow wraps around an error's own words: graph node names, op names, the iterator.
_TF_ERROR_NOISE = re.compile(
    r"\{\{[^}]*\}\}|\[\[[^\]]*\]\]|\[Op:[^\]]*\]( name: \S*)?"
    r"|Error in user-defined function passed to \S+ transformation with iterator: \S+"
)


def _reason(err: tf.errors.OpError) -> str:
    """TensorFlow's error message on one line, without its graph and iterator details."""
    return " ".join(_TF_ERROR_NOISE.sub(" ", err.message).split())


def unreadable(path: str, err: tf.errors.OpError) -> DataError:
    """A file (local or gs://) that cannot be read: no such bucket, no permission, no network."""
    return DataError(f"{path}: cannot read it ({_reason(err)})")


def expand_files(patterns: list[str]) -> list[str]:
    """Expands glob patterns (`gs://bucket/data/train-*.csv`); each must match a file."""
    files = []
    for pattern in patterns:
        try:
            matches = sorted(tf.io.gfile.glob(pattern))
        except tf.errors.OpError as err:
            raise unreadable(pattern, err) from None
        if not matches:
            raise DataError(f"{pattern}: no such file")
        files.extend(matches)
    return files


def read_header(path: str, schema: Schema) -> list[str]:
    """The file's column names, after checking that every declared column is among them."""
    try:
        with tf.io.gfile.GFile(path) as f:
            # A spreadsheet's "CSV UTF-8" starts with a byte-order mark, which is not part of the
            # first column's name. The data rows never see it: they start after this line.
            first_line = f.readline().removeprefix("\ufeff")
        if not first_line.strip():
            tf.io.gfile.stat(path)  # readline returns "" when a read fails; stat raises the error
    except tf.errors.OpError as err:
        raise unreadable(path, err) from None
    if not first_line.strip():
        raise DataError(f"{path}: the file is empty; expected a header row of column names")
    header = [name.strip() for name in next(csv.reader([first_line]))]
    missing = [column for column in schema.columns if column not in header]
    if missing:
        raise DataError(
            f"{path}: declared column(s) {', '.join(missing)} missing from the header "
            f"({', '.join(header)})"
        )
    return header


def _decode_fn(header: list[str], schema: Schema):
    """A function from a batch of CSV lines to a dict of string tensors, one per declared column."""
    indices = sorted(header.index(column) for column in schema.columns)
    names = [header[i] for i in indices]

    def decode(lines: tf.Tensor) -> dict[str, tf.Tensor]:
        lines = tf.strings.strip(lines)  # also drops the '\r' of Windows line ends
        lines = tf.boolean_mask(lines, tf.strings.length(lines) > 0)
        fields = tf.io.decode_csv(lines, record_defaults=[""] * len(indices), select_cols=indices)
        return dict(zip(names, fields, strict=True))

    return decode


def _line_blocks(
    files: list[str], block: int, shuffle: bool, seed: int | None = None
) -> tf.data.Dataset:
    """Blocks of up to `block` raw CSV lines, header rows skipped. Files are read in parallel,
    a block at a time: handing single lines across threads would cost more than decoding them.
    With a `seed`, the order is the same in every process (see `make_dataset`).
    """

    def read(path: tf.Tensor) -> tf.data.Dataset:
        lines = tf.data.TextLineDataset(path).skip(1)
        if shuffle:
            lines = lines.shuffle(SHUFFLE_BUFFER, seed=seed)
        return lines.batch(block)

    paths = tf.data.Dataset.from_tensor_slices(files)
    if len(files) == 1:
        return read(files[0])
    if shuffle:
        paths = paths.shuffle(len(files), seed=seed)
    return paths.interleave(
        read,
        cycle_length=min(len(files), 8),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=not shuffle or seed is not None,
    )


def _is_missing(values: tf.Tensor) -> tf.Tensor:
    return tf.reduce_any(tf.equal(values[:, None], tf.constant(MISSING_VALUES)[None, :]), axis=1)


def to_float(values: tf.Tensor) -> tf.Tensor:
    """CSV strings to float32, with missing values as NaN (the model fills them in)."""
    return tf.strings.to_number(tf.where(_is_missing(values), "nan", values), tf.float32)


# ------------------------------------------------------------------------------------ scanning


def _scan_blocks(path: str, header: list[str], schema: Schema) -> tf.data.Dataset:
    """The file's declared columns as strings, a block of rows at a time, with each row's line
    number. Every field is decoded, not only the declared ones: `decode_csv` then refuses a row
    with more or fewer fields than the header, which it ignores when it selects columns."""
    positions = [header.index(column) for column in schema.columns]

    def decode(block: tf.Tensor, lines: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        lines = tf.strings.strip(lines)
        present = tf.strings.length(lines) > 0
        # Line 1 is the header; blank lines keep their numbers, so errors point at the file.
        line_numbers = 2 + block * SCAN_BATCH_SIZE + tf.range(tf.size(lines, out_type=tf.int64))
        fields = tf.io.decode_csv(
            tf.boolean_mask(lines, present), record_defaults=[""] * len(header)
        )
        columns = {name: fields[i] for name, i in zip(schema.columns, positions, strict=True)}
        return columns, tf.boolean_mask(line_numbers, present)

    blocks = _line_blocks([path], SCAN_BATCH_SIZE, False).enumerate()
    return blocks.map(decode).prefetch(tf.data.AUTOTUNE)


def _row_of_wrong_width(path: str, width: int) -> DataError | None:
    """The first row whose field count is not the header's, named by its line; None if there is
    none. Read only once decoding has failed, so a good file costs no second pass."""
    with tf.io.gfile.GFile(path, "rb") as f:
        f.readline()  # the header
        for number, raw in enumerate(f, start=2):
            line = raw.decode(errors="replace").strip()
            if not line:
                continue
            fields = next(csv.reader([line]))
            if len(fields) != width:
                return DataError(
                    f"{path}, line {number}: {len(fields)} fields, "
                    f"but the header has {width} columns"
                )
    return None


def _parse_numeric(
    values: np.ndarray, path: str, column: str, line_numbers: np.ndarray
) -> np.ndarray:
    """Strings to float64 with NaN for missing values; a non-number is a DataError."""
    present = ~np.isin(values, _MISSING_BYTES)
    out = np.full(values.shape, np.nan)
    try:
        out[present] = values[present].astype(np.float64)
    except ValueError:
        for offset, value in enumerate(values):
            try:
                float(value)
            except ValueError:
                if present[offset]:
                    raise DataError(
                        f"{path}, line {line_numbers[offset]}: column '{column}' has the "
                        f"non-numeric value {value.decode(errors='replace')!r}"
                    ) from None
        raise
    return out


class _Scanner:
    """Accumulates DataStats batch by batch, in constant memory beyond the vocabularies."""

    def __init__(self, schema: Schema, known_classes: list[str] | None):
        self.schema = schema
        self.known_classes = set(known_classes) if known_classes is not None else None
        self.rows = 0
        self.dropped = 0
        numeric = list(schema.numeric) + ([] if schema.is_classification else [schema.label])
        self.count = dict.fromkeys(numeric, 0)
        self.sum = dict.fromkeys(numeric, 0.0)
        self.sum_sq = dict.fromkeys(numeric, 0.0)
        self.counters = {c: Counter() for c in schema.categorical}
        self.label_counter: Counter = Counter()

    def add(self, path: str, batch: dict[str, np.ndarray], line_numbers: np.ndarray) -> None:
        label = batch[self.schema.label]
        keep = ~np.isin(label, _MISSING_BYTES)
        self.dropped += int((~keep).sum())
        self.rows += int(keep.sum())
        for column in self.count:
            values = _parse_numeric(batch[column], path, column, line_numbers)[keep]
            values = values[~np.isnan(values)]
            self.count[column] += values.size
            self.sum[column] += float(values.sum())
            self.sum_sq[column] += float(np.square(values).sum())
        for column, counter in self.counters.items():
            values = batch[column][keep]
            counter.update(values[~np.isin(values, _MISSING_BYTES)].tolist())
        if self.schema.is_classification:
            labels = Counter(label[keep].tolist())
            if self.known_classes is not None:
                unseen = sorted(v.decode() for v in labels if v.decode() not in self.known_classes)
                if unseen:
                    raise DataError(
                        f"{path}: column '{self.schema.label}' has label value(s) "
                        f"{', '.join(map(repr, unseen))} never seen in the training files "
                        f"(known: {', '.join(sorted(self.known_classes))})"
                    )
            self.label_counter.update(labels)

    def result(self, description: str) -> DataStats:
        if self.rows == 0:
            raise DataError(f"{description}: no data rows with a label")
        stats = DataStats(rows=self.rows, dropped_rows=self.dropped)
        for column, n in self.count.items():
            if n == 0:
                raise DataError(f"{description}: column '{column}' has no values")
            mean = self.sum[column] / n
            stats.mean[column] = mean
            stats.variance[column] = max(self.sum_sq[column] / n - mean**2, 0.0)
        for column, counter in self.counters.items():
            if not counter:
                raise DataError(f"{description}: column '{column}' has no values")
            # Most frequent first, then alphabetical, so the order is stable across runs.
            ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
            stats.vocabularies[column] = [value.decode() for value, _ in ranked]
        stats.classes = sorted(value.decode() for value in self.label_counter)
        return stats


def scan(files: list[str], schema: Schema, known_classes: list[str] | None = None) -> DataStats:
    """One pass over the files: checks every value, and returns the statistics of the rows.

    With `known_classes`, a classification label outside them is a DataError (used for the eval
    files, whose labels the model must already know).
    """
    scanner = _Scanner(schema, known_classes)
    for path in files:
        header = read_header(path, schema)
        try:
            for batch, line_numbers in _scan_blocks(path, header, schema).as_numpy_iterator():
                scanner.add(path, batch, line_numbers)
        except tf.errors.InvalidArgumentError as err:
            raise _row_of_wrong_width(path, len(header)) or DataError(
                f"{path}: {_reason(err)}"
            ) from None
        except tf.errors.OpError as err:
            raise unreadable(path, err) from None
    stats = scanner.result(", ".join(files))
    if stats.dropped_rows:
        logging.warning(
            "Dropped %d row(s) with no '%s' value in %s",
            stats.dropped_rows,
            schema.label,
            ", ".join(files),
        )
    return stats


# ------------------------------------------------------------------------------- training input


def make_dataset(
    files: list[str],
    schema: Schema,
    classes: list[str],
    batch_size: int,
    shuffle: bool,
    *,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Batches of (features, label) for Keras: numeric features as float32 (NaN when missing),
    categorical ones as strings, and the label as a class index or a float.

    Rows with a missing label are dropped (`scan` counts them). Under MultiWorkerMirroredStrategy
    every worker reads this whole stream and keeps its share of each batch (tf.data's DATA
    sharding: sharding by file would need at least as many files as workers). The workers must
    then read the lines in the same order: give them all the same `seed`.
    """
    by_header: dict[tuple[str, ...], list[str]] = {}
    for path in files:
        by_header.setdefault(tuple(read_header(path, schema)), []).append(path)

    if schema.is_classification:
        class_ids = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(classes), tf.range(len(classes), dtype=tf.int64)
            ),
            default_value=-1,
        )

    def to_example(columns: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        keep = tf.logical_not(_is_missing(columns[schema.label]))
        columns = {name: tf.boolean_mask(values, keep) for name, values in columns.items()}
        features = {name: to_float(columns[name]) for name in schema.numeric}
        features |= {name: columns[name] for name in schema.categorical}
        if schema.is_classification:
            label = class_ids.lookup(columns[schema.label])
        else:
            label = to_float(columns[schema.label])
        return features, label

    datasets = []
    for header, group in by_header.items():
        decode = _decode_fn(list(header), schema)
        blocks = _line_blocks(group, max(batch_size, DECODE_BLOCK), shuffle, seed)
        datasets.append(
            blocks.map(
                lambda lines, decode=decode: to_example(decode(lines)),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        )
    dataset = datasets[0]
    for other in datasets[1:]:
        dataset = dataset.concatenate(other)
    if batch_size < DECODE_BLOCK:
        dataset = dataset.rebatch(batch_size)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
