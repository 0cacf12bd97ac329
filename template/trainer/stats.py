"""The statistics the preprocessing is built from, and the stats file that carries them.

One pass over the training files learns them (`Accumulator`): the rows, the classes, and each
feature kind's statistics of its columns (trainer/kinds: a number's mean and variance, a date's
trend and whether it has times, a category's vocabulary), one section of the stats file per
statistic. The trainer makes that pass
itself (`trainer.inputs.scan`), or reads its result from a stats file (`--stats-file`) that
`make prepare` wrote with this same `Accumulator` (`workflow/split_stats.py`): every worker of a
cluster and every tuning trial then builds the same preprocessing without reading the data first.

A stats file names the files it describes, each with its size and two checksums:
- `probe_crc32`, the CRC-32 of the file's first and last 64 KiB (all of a small file). The
  trainer checks it, with the size, before it trusts a file: it catches rows added, removed or
  re-split, for 128 KiB read per file. Reading every byte to check a whole-file checksum
  would cost as much as the scan the stats file saves, and a file's mtime says nothing once it
  is copied to Cloud Storage. What it misses, an edit of the same length inside a large file,
  the next check catches.
- `crc32c`, the whole file's CRC32C as Cloud Storage reports it: the workstation checks it when
  it stages the files (`make stage-data`), where it is computed anyway, so that the bucket
  never holds a stats file beside data it does not describe.

No TensorFlow here: the workstation imports this module too.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, make_dataclass

import numpy as np

from trainer.csv_reader import MISSING_VALUES, DataError
from trainer.kinds import KINDS
from trainer.kinds.base import ColumnAccumulator, ColumnBlock
from trainer.schema import Schema

# The stats file's name beside the data it describes (data/stats.json, gs://BUCKET/data/...).
STATS_FILE_NAME = "stats.json"
# Format 2 added the numbers' quantiles and the categorical settings; a file of an older format
# is refused with the fix, `make prepare` again.
FORMAT_VERSION = 2
# The feature kinds whose schema fields and sections every stats file holds (those of format 1).
# Another kind is in a file only when the schema has columns of it, so that a file stays as short
# as its schema; a file without them reads as empty.
EVERY_FILE_KINDS = ("numeric", "categorical")
PROBE_BLOCK_BYTES = 64 * 1024

_MISSING_BYTES = np.array([value.encode() for value in MISSING_VALUES], dtype=object)


# A field per statistic of each feature kind (trainer/kinds), between the row counts and the
# classes: a new kind brings its own. The fields are the stats file's, in its order.
DataStats = make_dataclass(
    "DataStats",
    [
        ("rows", int, field(default=0)),
        ("dropped_rows", int, field(default=0)),
        *((name, dict, field(default_factory=dict)) for kind in KINDS for name in kind.statistics),
        ("classes", list, field(default_factory=list)),
    ],
    namespace={
        "__module__": __name__,
        "__doc__": "What one pass over the training files learns, to build the preprocessing "
        "layers: the rows kept and dropped (those whose label is missing), each feature kind's "
        "statistics, a dict by column each (`mean` and `variance` hold a regression label's "
        "too), and the classes seen (in a classification), sorted.",
    },
)


class Accumulator:
    """Accumulates DataStats block by block, in constant memory beyond what the statistics are
    (the vocabularies)."""

    def __init__(self, schema: Schema, known_classes: list[str] | None = None):
        self.schema = schema
        self.known_classes = set(known_classes) if known_classes is not None else None
        self.rows = 0
        self.dropped = 0
        self.columns: dict[str, ColumnAccumulator] = {
            column: kind.accumulator(schema) for kind in KINDS for column in schema.read_as(kind)
        }
        self.label_counter: Counter = Counter()

    def add(self, path: str, block: dict[str, np.ndarray], line_numbers: np.ndarray) -> None:
        """A block of rows of `path`: each declared column's values as bytes, and each row's
        line number (for error messages)."""
        label = block[self.schema.label]
        keep = ~np.isin(label, _MISSING_BYTES)
        self.dropped += int((~keep).sum())
        self.rows += int(keep.sum())
        for column, accumulator in self.columns.items():
            values = block[column]
            present = ~np.isin(values, _MISSING_BYTES)
            accumulator.add(ColumnBlock(path, column, values, present, keep, line_numbers))
        if self.schema.is_classification:
            labels = Counter(label[keep].tolist())
            if self.known_classes is not None:
                check_known_classes(
                    path, self.schema, [v.decode() for v in labels], self.known_classes
                )
            self.label_counter.update(labels)

    def result(self, description: str) -> DataStats:
        if self.rows == 0:
            raise DataError(f"{description}: no data rows with a label")
        statistics: dict[str, dict] = {}
        for column, accumulator in self.columns.items():
            found = accumulator.result()
            if found is None:
                raise DataError(f"{description}: column '{column}' has no values")
            for name, value in found.items():
                statistics.setdefault(name, {})[column] = value
        classes = sorted(value.decode() for value in self.label_counter)
        return DataStats(rows=self.rows, dropped_rows=self.dropped, **statistics, classes=classes)


def check_training_stats(stats: DataStats, schema: Schema, description: str) -> list[str]:
    """Refuses training statistics that cannot train a model: a classification label with a
    single class (the model would learn to say it always, with a loss of 0). Returns the feature
    kinds' warnings about columns whose statistics will train badly (a categorical feature with
    very many values), each naming the column."""
    if schema.is_classification and len(stats.classes) == 1:
        raise DataError(
            f"{description}: the label '{schema.label}' has a single class "
            f"({stats.classes[0]!r}) in all {stats.rows} training rows: a classifier needs at "
            "least two; choose another label, or add rows of the other classes"
        )
    warnings = [
        kind.training_warning(column, stats, description)
        for kind in KINDS
        for column in schema.of(kind)
    ]
    return [warning for warning in warnings if warning]


def check_known_classes(path: str, schema: Schema, labels, known: set[str]) -> None:
    """Evaluation labels must be classes the model learned from the training files."""
    unseen = sorted(label for label in set(labels) if label not in known)
    if unseen:
        raise DataError(
            f"{path}: column '{schema.label}' has label value(s) "
            f"{', '.join(map(repr, unseen))} never seen in the training files "
            f"(known: {', '.join(sorted(known))})"
        )


# ----------------------------------------------------------------------------- the stats file


def probe_blocks(size: int) -> list[tuple[int, int]]:
    """(offset, length) of the blocks that `probe_crc32` reads: the first and the last, or the
    whole of a small file."""
    if size <= 2 * PROBE_BLOCK_BYTES:
        return [(0, size)]
    return [(0, PROBE_BLOCK_BYTES), (size - PROBE_BLOCK_BYTES, PROBE_BLOCK_BYTES)]


def probe_crc32(read_block: Callable[[int, int], bytes], size: int) -> str:
    """The CRC-32 (zlib's, which every Python has) of a file's probe blocks, each read with
    `read_block(offset, length)`."""
    crc = 0
    for offset, length in probe_blocks(size):
        crc = zlib.crc32(read_block(offset, length), crc)
    return f"{crc:08x}"


@dataclass(frozen=True)
class Fingerprint:
    """One described file: its name (no directory, so that the data can move to a bucket), its
    size in bytes, and its checksums (see the module's docstring)."""

    name: str
    size: int
    probe_crc32: str
    crc32c: str


@dataclass
class DescribedFiles:
    """The training or the evaluation files of a stats file, and their statistics."""

    files: list[Fingerprint]
    stats: DataStats

    def names(self) -> list[str]:
        return sorted(f.name for f in self.files)

    def fingerprint(self, name: str) -> Fingerprint:
        return next(f for f in self.files if f.name == name)


@dataclass
class StatsFile:
    schema: Schema
    train: DescribedFiles
    eval: DescribedFiles

    def to_json(self) -> str:
        absent = [
            kind for kind in KINDS if kind.name not in EVERY_FILE_KINDS and not self.schema.of(kind)
        ]
        left_out = {
            name
            for kind in absent
            for name in (kind.name, *kind.statistics, *(setting for setting, _ in kind.settings))
        }

        def fields(data: dict) -> dict:
            return {key: value for key, value in data.items() if key not in left_out}

        def part(described: DescribedFiles) -> dict:
            files = [asdict(f) for f in described.files]
            return {"files": files, **fields(asdict(described.stats))}

        content = {
            "format": FORMAT_VERSION,
            "schema": fields(_schema_fields(self.schema)),
            "train": part(self.train),
            "eval": part(self.eval),
        }
        return json.dumps(content, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, path: str) -> StatsFile:
        """Parses a stats file; anything else is a DataError naming `path`."""
        try:
            content = json.loads(text)
            found = content.get("format")
        except (ValueError, AttributeError) as err:
            raise DataError(
                f"{path}: not a stats file written by `make prepare` ({err!r})"
            ) from None
        if isinstance(found, int) and 0 < found < FORMAT_VERSION:
            raise DataError(
                f"{path}: written by an older release of the template (format {found}; the "
                f"trainer reads format {FORMAT_VERSION}); run `make prepare` again"
            )
        try:
            if found != FORMAT_VERSION:
                raise ValueError(f"format {found!r}, not {FORMAT_VERSION}")
            schema = Schema(**{k: _tuple_or_str(v) for k, v in content["schema"].items()})

            def part(data: dict) -> DescribedFiles:
                files = [Fingerprint(**f) for f in data.pop("files")]
                return DescribedFiles(files, DataStats(**data))

            return cls(schema, part(content["train"]), part(content["eval"]))
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise DataError(
                f"{path}: not a stats file written by `make prepare` ({err!r})"
            ) from None

    def check_schema(self, schema: Schema, path: str) -> None:
        """The statistics must be of the columns that the trainer reads now."""
        if self.schema != schema:
            raise DataError(
                f"{path}: written for another schema ({_describe(self.schema)}), but the "
                f"trainer reads {_describe(schema)}; run `make prepare` again"
            )


def _schema_fields(schema: Schema) -> dict:
    return {key: list(v) if isinstance(v, tuple) else v for key, v in asdict(schema).items()}


def _tuple_or_str(value):
    return tuple(value) if isinstance(value, list) else value


def _describe(schema: Schema) -> str:
    settings = "".join(
        f", {name} {getattr(schema, name)}" for kind in KINDS for name, _ in kind.settings
    )
    return f"label '{schema.label}', features {', '.join(schema.features)}{settings}"
