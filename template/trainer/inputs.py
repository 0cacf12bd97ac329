"""Reading CSV files, local or `gs://`: header checks, the training statistics (one scan, or a
stats file checked against the files), and tf.data input, each worker of a cluster on its share.

Each file's header gives its column order. Lines are batched before they are decoded, which
keeps the pipeline fast enough to feed training (one `decode_csv` call per batch, not per row).
The header's checks, the scan's block size and the messages for bad rows are those of
trainer/csv_reader.py, which the workstation reads the same files with.
"""

from __future__ import annotations

import logging
import posixpath
import re
from contextlib import ExitStack

import tensorflow as tf

from trainer.csv_reader import BLOCK_LINES, DataError, check_columns, open_csv, parse_header
from trainer.kinds import KINDS
from trainer.kinds.base import missing_mask
from trainer.schema import Schema
from trainer.stats import (
    Accumulator,
    DataStats,
    DescribedFiles,
    StatsFile,
    check_known_classes,
    check_training_stats,
    probe_crc32,
)

# Bytes read at a time for a file's header: tf.io.gfile reads 512 KiB to return one line, which
# adds up to a share of each file when every worker checks the headers of many shards.
HEADER_READ_BYTES = 16 * 1024
# Lines held for shuffling: the files may be sorted (the penguins sample is, by species).
SHUFFLE_BUFFER = 10_000
# Lines decoded per `decode_csv` call. Each call costs the same fixed overhead whatever its size,
# so small training batches are decoded in larger blocks and then re-batched.
DECODE_BLOCK = 2048
# The shuffle seed that `make_dataset(..., seed=SHUFFLE_SEED)` callers share.
SHUFFLE_SEED = 1

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
        lines = tf.data.TextLineDataset(path, buffer_size=HEADER_READ_BYTES).take(1)
        first = [line.numpy() for line in lines]
    except tf.errors.OpError as err:
        raise unreadable(path, err) from None
    header = parse_header(path, first[0].decode(errors="replace") if first else "")
    return check_columns(path, header, schema.columns)


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
        line_numbers = 2 + block * BLOCK_LINES + tf.range(tf.size(lines, out_type=tf.int64))
        fields = tf.io.decode_csv(
            tf.boolean_mask(lines, present), record_defaults=[""] * len(header)
        )
        columns = {name: fields[i] for name, i in zip(schema.columns, positions, strict=True)}
        return columns, tf.boolean_mask(line_numbers, present)

    blocks = _line_blocks([path], BLOCK_LINES, False).enumerate()
    return blocks.map(decode).prefetch(tf.data.AUTOTUNE)


def _bad_row(path: str) -> DataError | None:
    """The first row that csv_reader refuses (one whose field count is not the header's, or a
    quote left open), named by its line; None if there is none. Read only once decoding has
    failed, so a good file costs no second pass."""
    try:
        with ExitStack() as stack:
            for _ in open_csv(path, stack, opener=lambda p: tf.io.gfile.GFile(p, "rb")).rows():
                pass
    except DataError as err:
        return err
    return None


def scan(files: list[str], schema: Schema, known_classes: list[str] | None = None) -> DataStats:
    """One pass over the files: checks every value, and returns the statistics of the rows.

    With `known_classes`, a classification label outside them is a DataError (used for the eval
    files, whose labels the model must already know).
    """
    scanner = Accumulator(schema, known_classes)
    for path in files:
        header = read_header(path, schema)
        try:
            for block, line_numbers in _scan_blocks(path, header, schema).as_numpy_iterator():
                scanner.add(path, block, line_numbers)
        except tf.errors.InvalidArgumentError as err:
            raise _bad_row(path) or DataError(f"{path}: {_reason(err)}") from None
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


# ------------------------------------------------------------------------------- the stats file


def read_stats_file(path: str, schema: Schema) -> StatsFile:
    """A stats file (local or gs://) written for `schema`."""
    try:
        with tf.io.gfile.GFile(path) as f:
            text = f.read()
    except tf.errors.NotFoundError:
        raise DataError(f"{path}: no such file; `make prepare` writes it") from None
    except tf.errors.OpError as err:
        raise unreadable(path, err) from None
    stats_file = StatsFile.from_json(text, path)
    stats_file.check_schema(schema, path)
    return stats_file


def _read_block(path: str, size: int, offset: int, length: int) -> bytes:
    """`length` bytes of the file from `offset`, reading little more than those."""
    if length == 0:
        return b""
    if offset == 0:  # tf.io.gfile would fill a 512 KiB buffer to return them
        records = tf.data.FixedLengthRecordDataset(
            path, length, footer_bytes=size - length, buffer_size=length
        )
        return next(iter(records)).numpy()
    with tf.io.gfile.GFile(path, "rb") as f:  # its buffer fills from `offset` to at most the end
        f.seek(offset)
        return f.read(length)


def _check_fingerprint(path: str, described: DescribedFiles, stats_path: str) -> None:
    """The file is the one the stats file describes: the same size, and the same probe blocks."""
    expected = described.fingerprint(posixpath.basename(path))
    try:
        size = tf.io.gfile.stat(path).length
        if size == expected.size:
            probe = probe_crc32(
                lambda offset, length: _read_block(path, size, offset, length), size
            )
            if probe == expected.probe_crc32:
                return
            change = "the same size, other content"
        else:
            change = f"{size:,} bytes, not {expected.size:,}"
    except tf.errors.OpError as err:
        raise unreadable(path, err) from None
    raise DataError(
        f"{path}: changed since {stats_path} was written ({change}); run `make prepare` "
        "(and `make stage-data`) again, or train without --stats-file"
    )


def _names(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else f"{names[0]} ... {names[-1]}"


def _check_training_names(files: list[str], described: DescribedFiles, stats_path: str) -> None:
    """`files` are by name exactly the training files that the stats file describes."""
    names = sorted(posixpath.basename(path) for path in files)
    for path in files:
        if posixpath.basename(path) not in described.names():
            raise DataError(
                f"{path}: not a training file of {stats_path} ({_names(described.names())}); "
                "train without --stats-file, or run `make prepare` for these files"
            )
    for name in described.names():
        if name not in names:
            raise DataError(f"{stats_path}: describes the training file {name}, not given")
    if len(names) != len(set(names)):
        raise DataError(f"{stats_path}: two training files share a name in {', '.join(files)}")


def _check_training_stats(stats: DataStats, schema: Schema, train_files: list[str]) -> None:
    """A DataError for statistics no model can learn from; a warning for each categorical feature
    with very many values."""
    for warning in check_training_stats(stats, schema, _names(train_files)):
        logging.warning("%s", warning)


def statistics(
    schema: Schema, train_files: list[str], eval_files: list[str], stats_file: str | None = None
) -> DataStats:
    """The training statistics, once the files are checked.

    Without `stats_file`: one scan of the training files, and one of the evaluation files (their
    values, and labels the model knows). With it: its statistics, once the files are by name
    those it describes, each with the described size and probe blocks (128 KiB read per file;
    every worker checks every file, so that all of them stop on the same error). Evaluation files
    that it does not describe are scanned. The headers are checked either way.
    """
    if stats_file is None:
        stats = scan(train_files, schema)
        _check_training_stats(stats, schema, train_files)
        scan(eval_files, schema, known_classes=stats.classes or None)
        return stats
    described = read_stats_file(stats_file, schema)
    _check_training_names(train_files, described.train, stats_file)
    stats = described.train.stats
    _check_training_stats(stats, schema, train_files)
    checks = [(path, described.train) for path in train_files]
    eval_names = sorted(posixpath.basename(path) for path in eval_files)
    if eval_names == described.eval.names():
        if schema.is_classification:
            check_known_classes(
                ", ".join(eval_files), schema, described.eval.stats.classes, set(stats.classes)
            )
        checks += [(path, described.eval) for path in eval_files]
    else:
        scan(eval_files, schema, known_classes=stats.classes or None)
    for path, files in checks:
        read_header(path, schema)
        _check_fingerprint(path, files, stats_file)
    if stats.dropped_rows:
        logging.warning(
            "Dropped %d row(s) with no '%s' value in %s",
            stats.dropped_rows,
            schema.label,
            ", ".join(train_files),
        )
    logging.info(
        "Statistics from %s, which describes these %d training file(s): no scan",
        stats_file,
        len(train_files),
    )
    return stats


# ----------------------------------------------------------------------------- a worker's share


def own_files(files: list[str], worker: tuple[int, int] | None) -> list[str] | None:
    """The files that this worker of a cluster reads alone, given `worker` = (its index, the
    number of workers): every count-th file from its index on. None outside a cluster, or when
    there are fewer files than workers: every worker then reads them all."""
    if worker is None or len(files) < worker[1]:
        return None
    index, count = worker
    return files[index::count]


def log_worker_share(
    train_files: list[str], eval_files: list[str], worker: tuple[int, int] | None, rows: int
) -> None:
    """Says what this worker of a cluster reads; the chief warns when each worker must read
    every training row, and says how to split them."""
    if worker is None:
        return
    index, count = worker
    for role, files in (("training", train_files), ("evaluation", eval_files)):
        own = own_files(files, worker)
        if own is not None:
            names = ", ".join(posixpath.basename(path) for path in own)
            logging.info(
                "This worker reads its share of the %d %s files (%d workers): %s",
                len(files),
                role,
                count,
                names,
            )
        elif index == 0 and role == "training":
            logging.warning(
                "%d training file(s) for %d workers: each worker reads all %d rows and keeps "
                "1/%d of them. Split the data into at least as many files as workers "
                "(make prepare SHARDS=%d) so that each reads only its own.",
                len(files),
                count,
                rows,
                count,
                count,
            )


# ------------------------------------------------------------------------------- training input


def make_dataset(
    files: list[str],
    schema: Schema,
    classes: list[str],
    batch_size: int,
    shuffle: bool,
    *,
    seed: int | None = None,
    worker: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """Batches of (features, label) for Keras: each feature as its kind decodes it (trainer/kinds:
    numbers as float32, NaN when missing; categories as strings), and the label as a class index
    or, in a regression, a number.

    Rows with a missing label are dropped (`scan` counts them). Under MultiWorkerMirroredStrategy,
    `worker` is this process's (index, number of workers) (`trainer.distribute.worker_share`):
    - with at least as many files as workers, each worker reads only its own files
      (`own_files`), and tf.data's auto-sharding is off;
    - with fewer, every worker reads this whole stream and keeps its share of each batch
      (tf.data's DATA sharding). The workers must then read the lines in the same order: give
      them all the same `seed`.
    """
    own = own_files(files, worker)
    files = files if own is None else own
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
        keep = tf.logical_not(missing_mask(columns[schema.label]))
        columns = {name: tf.boolean_mask(values, keep) for name, values in columns.items()}
        features = {name: kind.decode(columns[name]) for kind in KINDS for name in schema.of(kind)}
        if schema.is_classification:
            label = class_ids.lookup(columns[schema.label])
        else:
            label = schema.label_kind.decode(columns[schema.label])
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
    policy = tf.data.experimental.AutoShardPolicy
    options.experimental_distribute.auto_shard_policy = policy.DATA if own is None else policy.OFF
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
