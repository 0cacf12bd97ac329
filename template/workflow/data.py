"""Preparing a CSV dataset before training: clean it, split it, describe it, propose its schema.

    python -m workflow.data prepare data/penguins.csv --out-dir data   # clean, split, instances
    python -m workflow.data describe data/penguins.csv
    python -m workflow.data schema data/penguins.csv --label species

The split is by a hash of each row (or of a key column), never by position or a random draw:
re-running it gives the same files, and appending rows never moves an old row to another split,
so an evaluation set stays unseen by training as the data grows. `--shards N` writes the
training rows as N files (workflow/shards.py), for clusters whose workers each read their own.
`prepare` also writes a few evaluation rows as instances.json, the input of `make predict`, in
the project's schema, and the trainer's statistics of the split as stats.json
(workflow/split_stats.py), so that training need not scan the data first.

The settings a team changes (the missing-value tokens, the split's key and fractions, the schema
proposal's thresholds) are in config/data.yaml; this module is the template's. The files are
read as the trainer reads them, with trainer/csv_reader.py.

No TensorFlow: it starts at once and runs anywhere.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import io
import json
import math
import os
import re
import shlex
import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from trainer.csv_reader import CsvFile, DataError, missing_columns, open_csv
from trainer.schema import Schema
from workflow import shards

# The settings a team changes, each described there: the missing-value tokens (MISSING_TOKENS
# was here), the split's key and fractions, and the schema proposal's thresholds.
CONFIG_FILE = Path(__file__).resolve().parent.parent / "config" / "data.yaml"
# How `clean` writes a missing value: one of the values the trainer reads as missing
# (trainer.schema.MISSING_VALUES), and what the penguins sample already uses.
MISSING = "NA"

SPLITS = ("train", "eval", "test")
# Rows are hashed into this many buckets, so split fractions are whole percentages.
HASH_BUCKETS = 100

# Column names the trainer can use: they become the serving signature's input names.
USABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
# The schema proposal's thresholds (MAX_DISTINCT, TIME_WORDS, ID_WORDS, MAX_INTEGER_CLASSES,
# MAX_SENSIBLE_CLASSES) are the settings in config/data.yaml's schema_proposal.

# Evaluation rows that `prepare` writes to instances.json: one of each class, where they differ.
INSTANCE_COUNT = 3


# ------------------------------------------------------------------------- the team's settings


@dataclass(frozen=True)
class Settings:
    """config/data.yaml, checked: its comments say what each setting does."""

    missing_tokens: frozenset[str]
    split_key: str | None
    fractions: tuple[float, float, float]  # train, eval, test
    max_distinct: int
    max_integer_classes: int
    max_sensible_classes: int
    time_words: frozenset[str]
    id_words: frozenset[str]


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _fraction(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


# Each setting of config/data.yaml: what its value must be, and the test of it.
SETTINGS = {
    "missing_tokens": ("a list of quoted strings", _strings),
    "split": {
        "key": ("a column name, or null", lambda v: v is None or (isinstance(v, str) and v)),
        **dict.fromkeys(
            ("train_fraction", "eval_fraction", "test_fraction"),
            ("a number from 0 to 1", _fraction),
        ),
    },
    "schema_proposal": {
        **dict.fromkeys(
            ("max_distinct", "max_integer_classes", "max_sensible_classes"),
            ("a whole number above 0", _whole),
        ),
        **dict.fromkeys(("time_words", "id_words"), ("a list of words", _strings)),
    },
}


def _checked(content: object, spec: dict, shown: str, prefix: str = "") -> dict:
    """`content` once it has every setting of `spec` and no other, each of the right kind."""
    if not isinstance(content, dict):
        where = f"'{prefix.rstrip('.')}'" if prefix else "the file"
        raise DataError(f"{shown}: {where} must hold the settings {', '.join(spec)}")
    unknown = [key for key in content if key not in spec]
    if unknown:
        raise DataError(
            f"{shown}: no setting '{prefix}{unknown[0]}' (the settings: "
            f"{', '.join(prefix + key for key in spec)})"
        )
    for key, kind in spec.items():
        if key not in content:
            raise DataError(f"{shown}: the setting '{prefix}{key}' is missing")
        if isinstance(kind, dict):
            _checked(content[key], kind, shown, f"{prefix}{key}.")
        elif not kind[1](content[key]):
            raise DataError(
                f"{shown}: '{prefix}{key}' must be {kind[0]}, not {json.dumps(content[key])}"
            )
    return content


def load_settings(path: Path = CONFIG_FILE) -> Settings:
    """The settings in `path`, checked; a DataError names the file and the setting."""
    shown = os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(
            f"{shown}: no such file; restore it (git checkout {shown}, or copier update)"
        ) from None
    except yaml.YAMLError as err:
        raise DataError(f"{shown}: not valid YAML ({' '.join(str(err).split())})") from None
    _checked(content, SETTINGS, shown)
    split, proposal = content["split"], content["schema_proposal"]
    fractions = tuple(split[f"{name}_fraction"] for name in SPLITS)
    try:
        split_percents(*fractions, name="split.{}_fraction")
    except DataError as err:
        raise DataError(f"{shown}: {err}") from None
    return Settings(
        missing_tokens=frozenset(content["missing_tokens"]),
        split_key=split["key"],
        fractions=fractions,
        max_distinct=proposal["max_distinct"],
        max_integer_classes=proposal["max_integer_classes"],
        max_sensible_classes=proposal["max_sensible_classes"],
        time_words=frozenset(word.lower() for word in proposal["time_words"]),
        id_words=frozenset(word.lower() for word in proposal["id_words"]),
    )


@functools.cache
def settings() -> Settings:
    """The project's settings, read once."""
    return load_settings()


# --------------------------------------------------------------------------------- reading


def read_csv(path: str | os.PathLike, stack: ExitStack) -> CsvFile:
    """Opens a CSV file (closed with `stack`) and checks its header: a value the settings read
    as missing is no column name."""
    return open_csv(str(path), stack, missing=settings().missing_tokens)


def column_index(csv_file: CsvFile, column: str, role: str) -> int:
    if column not in csv_file.header:
        raise DataError(
            f"{csv_file.path}: the {role} column '{column}' is not in the header "
            f"({', '.join(csv_file.header)})"
        )
    return csv_file.header.index(column)


# A temporary file of a run: hidden, beside its target, named for the process that writes it
# (.train.csv.prepare-1234), so that no glob of the split's files (the Makefile's, the trainer's,
# `make stage-data`'s) matches it, and a later run can remove those of a process that died.
TEMP_NAME = re.compile(r"\.(?P<target>.+)\.prepare-(?P<pid>\d+)")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def remove_leftovers(directory: Path) -> list[Path]:
    """Removes the temporary files that runs which died (killed, or the machine stopped) left in
    `directory`; returns them."""
    left = [
        path
        for path in (directory.iterdir() if directory.is_dir() else ())
        if (match := TEMP_NAME.fullmatch(path.name))
        and int(match["pid"]) != os.getpid()
        and not _running(int(match["pid"]))
    ]
    for path in left:
        path.unlink(missing_ok=True)
    return left


class Staging:
    """New files written beside their targets under temporary names (TEMP_NAME), then switched
    in together once every one of them is complete: a refusal, an error or an interruption
    part-way leaves the targets as they were. The switch is one rename per file, and the removal
    of the files the new ones make stale (`remove`)."""

    def __init__(self) -> None:
        self.temps: dict[Path, Path] = {}  # target -> its temporary file
        self.removals: list[Path] = []
        self.created: list[Path] = []  # directories made for the targets, removed on a refusal
        self.cleaned: set[Path] = set()  # directories rid of the leftovers of dead runs
        self.files = ExitStack()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.files.close()
        if exc_type is not None:
            self.discard()

    def temp_of(self, target: Path) -> Path:
        return self.temps[target]

    def open(self, target: Path):
        """A new text file that will replace `target` at the switch."""
        missing = [d for d in (target.parent, *target.parent.parents) if not d.exists()]
        target.parent.mkdir(parents=True, exist_ok=True)
        self.created += missing
        if target.parent not in self.cleaned:
            remove_leftovers(target.parent)
            self.cleaned.add(target.parent)
        temp = target.parent / f".{target.name}.prepare-{os.getpid()}"
        f = self.files.enter_context(open(temp, "w", newline="", encoding="utf-8"))
        self.temps[target] = temp
        return f

    def csv_writer(self, target: Path):
        return csv.writer(self.open(target), lineterminator="\n")

    def remove(self, path: Path) -> None:
        """Removes `path` at the switch."""
        self.removals.append(path)

    def switch(self) -> None:
        self.files.close()
        for target, temp in self.temps.items():
            _replace(temp, target)
        for path in self.removals:
            if path not in self.temps:
                path.unlink(missing_ok=True)
        self.temps, self.removals = {}, []

    def discard(self) -> None:
        self.files.close()
        for temp in self.temps.values():
            temp.unlink(missing_ok=True)
        for directory in self.created:  # deepest first
            try:
                directory.rmdir()
            except OSError:
                break
        self.temps = {}


def _replace(temp: Path, path: Path) -> None:
    """Moves a complete temporary file onto `path`, with the target's mode or the usual one."""
    os.chmod(temp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
    os.replace(temp, path)


# ------------------------------------------------------------------------------------ clean


@dataclass
class CleanReport:
    rows_read: int = 0
    rows_dropped: int = 0  # no label
    normalised: Counter = field(default_factory=Counter)  # column -> missing tokens rewritten
    trimmed: Counter = field(default_factory=Counter)  # column -> values stripped of spaces

    def lines(self, path: str, label: str) -> list[str]:
        kept = self.rows_read - self.rows_dropped
        out = [
            f"{path}: {self.rows_read} rows read, {self.rows_dropped} dropped "
            f"(no '{label}' value), {kept} kept"
        ]
        if self.normalised:
            per_column = ", ".join(f"{c} {n}" for c, n in self.normalised.items())
            out.append(
                f"  {sum(self.normalised.values())} missing value(s) written as {MISSING}: "
                f"{per_column}"
            )
        if self.trimmed:
            per_column = ", ".join(f"{c} {n}" for c, n in self.trimmed.items())
            out.append(f"  {sum(self.trimmed.values())} value(s) stripped of spaces: {per_column}")
        return out


def clean_rows(
    csv_file: CsvFile, label: str, report: CleanReport
) -> Iterator[tuple[int, list[str]]]:
    """The rows with a label, as (line, fields), with spaces stripped and every missing token
    written as MISSING. The label column is checked at once; the rows are cleaned as read."""
    return _clean(csv_file, column_index(csv_file, label, "label"), report)


def _clean(
    csv_file: CsvFile, label_index: int, report: CleanReport
) -> Iterator[tuple[int, list[str]]]:
    header = csv_file.header
    tokens = settings().missing_tokens
    for line, fields in csv_file.rows():
        report.rows_read += 1
        cleaned = []
        for name, value in zip(header, fields, strict=True):
            stripped = value.strip()
            if stripped in tokens:
                if value != MISSING:
                    report.normalised[name] += 1
                stripped = MISSING
            elif stripped != value:
                report.trimmed[name] += 1
            cleaned.append(stripped)
        if cleaned[label_index] == MISSING:
            report.rows_dropped += 1
            continue
        yield line, cleaned


# ------------------------------------------------------------------------------------ split


def split_percents(
    train: float, eval_: float, test: float, name: str = "--{}-fraction"
) -> dict[str, int]:
    """Fractions to whole percentages; they must sum to 1. `name` names the setting of each
    ('--train-fraction'), for the messages."""
    percents = {}
    for split, fraction in zip(SPLITS, (train, eval_, test), strict=True):
        percent = fraction * HASH_BUCKETS
        if not 0 <= fraction <= 1 or abs(percent - round(percent)) > 1e-6:
            raise DataError(
                f"{name.format(split)} {fraction}: must be a whole percentage between 0 and 1, "
                "such as 0.8 or 0.15"
            )
        percents[split] = round(percent)
    if sum(percents.values()) != HASH_BUCKETS:
        raise DataError(
            f"the split fractions sum to {sum(percents.values()) / HASH_BUCKETS:g}; "
            "they must sum to 1"
        )
    return percents


def hash_bucket(key: str) -> int:
    """A stable bucket in [0, 100) for a row key: the same on every machine and every run."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % HASH_BUCKETS


class Splitter:
    """Assigns rows to splits by a hash of a key column, or of the whole row as a CSV line."""

    def __init__(self, percents: dict[str, int], key_index: int | None = None):
        self.key_index = key_index
        self.cuts = []  # (upper bound, split), for the splits that get rows
        bound = 0
        for name in SPLITS:
            if percents[name]:
                bound += percents[name]
                self.cuts.append((bound, name))
        self._line = io.StringIO()
        self._writer = csv.writer(self._line, lineterminator="")

    def row_key(self, fields: list[str]) -> str:
        if self.key_index is not None:
            return fields[self.key_index]
        self._line.seek(0)
        self._line.truncate()
        self._writer.writerow(fields)
        return self._line.getvalue()

    def split_of(self, fields: list[str]) -> str:
        bucket = hash_bucket(self.row_key(fields))
        return next(name for bound, name in self.cuts if bucket < bound)


def write_splits(
    path: str,
    header: list[str],
    rows: Iterable[tuple[int, list[str]]],
    splitter: Splitter,
    out_dir: Path,
    *,
    staging: Staging,
    shard_counts: dict[str, int] | None = None,
    check: Callable[[int, list[str], str], None] | None = None,
) -> dict[str, tuple[list[Path], int]]:
    """Writes out_dir/{train,eval,test}.csv (the splits with a nonzero fraction) through
    `staging`: they replace the previous files at its switch. A split given N `shard_counts` is
    written as N files instead, which its rows fill in turn (workflow/shards.py); either layout
    removes the other's files at the switch. `check(line, fields, split)` sees each row before it
    is written, and may refuse it (DataError). Returns {split: (paths, rows)}."""
    names = [name for _, name in splitter.cuts]
    counts_of = shard_counts or {}
    files = {name: shards.split_paths(out_dir, name, counts_of.get(name, 1)) for name in names}
    counts = dict.fromkeys(names, 0)
    by_name = {name: [staging.csv_writer(target) for target in files[name]] for name in names}
    for writers in by_name.values():
        for writer in writers:
            writer.writerow(header)
    tokens = settings().missing_tokens
    for line, fields in rows:
        if splitter.key_index is not None and fields[splitter.key_index].strip() in tokens:
            raise DataError(
                f"{path}, line {line}: the key column '{header[splitter.key_index]}' has no "
                "value; give every row a key, or split without --key"
            )
        name = splitter.split_of(fields)
        if check is not None:
            check(line, fields, name)
        writers = by_name[name]
        writers[counts[name] % len(writers)].writerow(fields)
        counts[name] += 1
    for name in names:
        for stale in shards.stale_files(out_dir, name, files[name]):
            staging.remove(stale)
    return {name: (files[name], counts[name]) for name in names}


def split_lines(result: dict[str, tuple[list[Path], int]]) -> list[str]:
    total = sum(n for _, n in result.values()) or 1
    return [
        f"{shards.describe_paths(paths)}: {n} rows ({100 * n / total:.1f}%)"
        + (f" in {len(paths)} shards" if len(paths) > 1 else "")
        for paths, n in result.values()
    ]


# -------------------------------------------------------------------------------- instances


class InstancePicker:
    """Up to `count` rows, as they go by: the first of each label value in file order, then the
    earliest others, so that a classifier's instances show its classes."""

    def __init__(self, label_index: int, count: int = INSTANCE_COUNT):
        self.label_index, self.count = label_index, count
        self.firsts: list[tuple[int, list[str]]] = []
        self.others: list[tuple[int, list[str]]] = []
        self.labels: set[str] = set()

    def add(self, line: int, fields: list[str]) -> None:
        if len(self.firsts) == self.count:
            return
        if fields[self.label_index] not in self.labels:
            self.labels.add(fields[self.label_index])
            self.firsts.append((line, fields))
        elif len(self.others) < self.count:
            self.others.append((line, fields))

    @property
    def rows(self) -> list[tuple[int, list[str]]]:
        return (self.firsts + self.others)[: self.count]


def to_instance(csv_file: CsvFile, line: int, fields: list[str], schema: Schema) -> dict:
    """A cleaned row as the serving signature takes it: every feature, in the file's column
    order. A missing number is null; a missing category is "" (the signature refuses null for a
    string, and a missing key)."""
    instance: dict[str, object] = {}
    for name, value in zip(csv_file.header, fields, strict=True):
        if name in schema.categorical:
            instance[name] = "" if value == MISSING else value
        elif name in schema.numeric:
            try:
                number = math.nan if value == MISSING else float(value)
            except ValueError:
                raise DataError(
                    f"{csv_file.path}, line {line}: column '{name}' has the non-numeric value "
                    f"{value!r}, but the project's schema reads it as a number"
                ) from None
            instance[name] = number if math.isfinite(number) else None
    return instance


def write_instances(
    csv_file: CsvFile,
    picked: InstancePicker,
    source: Path,
    target: Path,
    *,
    schema: Schema,
    staging: Staging,
) -> str:
    """Writes the rows `picked` from the prepared `source` to `target` (at the staging's switch),
    one JSON object a line, as `make predict` sends them. Returns the report's line."""
    instances = [to_instance(csv_file, line, fields, schema) for line, fields in picked.rows]
    with staging.open(target) as f:
        f.writelines(json.dumps(instance, allow_nan=False) + "\n" for instance in instances)
    return f"{target}: {len(instances)} instance(s) from {source}, for `make predict`"


# --------------------------------------------------------------------------------- describe


@dataclass
class ColumnStats:
    name: str
    missing_tokens: Collection[str]
    max_distinct: int  # distinct values counted before the column counts as high-cardinality
    count: int = 0  # values present
    missing: int = 0
    numeric: bool = True  # every present value is a finite number
    integer: bool = True  # ... and an integer
    minimum: float = math.inf
    maximum: float = -math.inf
    total: float = 0.0
    values: Counter = field(default_factory=Counter)
    too_many: bool = False  # more than max_distinct distinct values: `values` was dropped

    def add(self, value: str) -> None:
        value = value.strip()
        if value in self.missing_tokens:
            self.missing += 1
            return
        self.count += 1
        if self.numeric:
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if math.isfinite(number):
                self.minimum = min(self.minimum, number)
                self.maximum = max(self.maximum, number)
                self.total += number
                self.integer = self.integer and number.is_integer() and "." not in value
            else:
                self.numeric = self.integer = False
        if not self.too_many:
            self.values[value] += 1
            if len(self.values) > self.max_distinct:
                self.too_many = True
                self.values = Counter()

    @property
    def distinct(self) -> int | None:
        """The number of distinct values, or None when there are more than max_distinct."""
        return None if self.too_many else len(self.values)

    @property
    def kind(self) -> str:
        if self.count == 0:
            return "empty"
        return "numeric" if self.numeric else "categorical"

    def summary(self, top: int) -> str:
        if self.count == 0:
            return ""
        if self.numeric:
            mean = self.total / self.count
            return f"min {self.minimum:g}, max {self.maximum:g}, mean {mean:.4g}"
        if self.too_many:
            return f"more than {self.max_distinct} distinct values"
        ranked = sorted(self.values.items(), key=lambda item: (-item[1], item[0]))
        shown = ", ".join(f"{value} {n}" for value, n in ranked[:top])
        return shown + (", ..." if len(ranked) > top else "")


@dataclass
class Description:
    path: str
    rows: int
    columns: list[ColumnStats]

    def column(self, name: str) -> ColumnStats:
        return next(c for c in self.columns if c.name == name)

    def table(self, top: int = 5) -> str:
        lines = [f"{self.path}: {self.rows} rows, {len(self.columns)} columns"]
        width = max([len("column"), *(len(c.name) for c in self.columns)])
        lines.append(
            f"{'column':<{width}}  {'type':<11}  {'values':>7}  {'missing':>7}  "
            f"{'distinct':>8}  summary"
        )
        for c in self.columns:
            distinct = f">{c.max_distinct}" if c.distinct is None else str(c.distinct)
            lines.append(
                f"{c.name:<{width}}  {c.kind:<11}  {c.count:>7}  {c.missing:>7}  "
                f"{distinct:>8}  {c.summary(top)}"
            )
        return "\n".join(lines)


def describe(path: str | os.PathLike) -> Description:
    """One pass over a CSV file: per column, counts, missing values, ranges, top categories."""
    with ExitStack() as stack:
        csv_file = read_csv(path, stack)
        tokens, max_distinct = settings().missing_tokens, settings().max_distinct
        columns = [ColumnStats(name, tokens, max_distinct) for name in csv_file.header]
        rows = 0
        for _, fields in csv_file.rows():
            rows += 1
            for stats, value in zip(columns, fields, strict=True):
                stats.add(value)
    return Description(str(path), rows, columns)


# ----------------------------------------------------------------------------------- schema


@dataclass
class Proposal:
    """Features proposed for a label, as the copier answers that render trainer/features.py."""

    label: str
    task_type: str
    task_reason: str
    numeric: list[str]
    categorical: list[str]
    left_out: dict[str, str]  # column -> why it is not a feature
    warnings: list[str] = field(default_factory=list)

    def answers(self) -> dict[str, object]:
        return {
            "task_type": self.task_type,
            "label_column": self.label,
            "numeric_features": self.numeric,
            "categorical_features": self.categorical,
        }

    def answers_yaml(self) -> str:
        """A copier --data-file. Column names are plain identifiers, so no YAML quoting."""
        lines = []
        for key, value in self.answers().items():
            lines.append(
                f"{key}: [{', '.join(value)}]" if isinstance(value, list) else f"{key}: {value}"
            )
        return "\n".join(lines) + "\n"

    def copier_command(self, copier: str) -> str:
        parts = [shlex.quote(copier), "update", "--trust", "--defaults"]
        for key, value in self.answers().items():
            text = f"[{', '.join(value)}]" if isinstance(value, list) else value
            parts += ["--data", shlex.quote(f"{key}={text}")]
        return " ".join(parts)


def _name_words(name: str) -> set[str]:
    """'listing_id' -> {'listing', 'id'}; 'saleDate' -> {'sale', 'date'}."""
    return {word.lower() for word in re.split(r"[_\W]+|(?<=[a-z0-9])(?=[A-Z])", name) if word}


def _left_out_reason(stats: ColumnStats) -> str | None:
    """Why a column should not be a feature, or None when it looks like one. The first rule
    that applies gives the reason."""
    rows = stats.count + stats.missing
    words = _name_words(stats.name)
    config = settings()
    categorical = not stats.numeric
    many = f"more than {stats.max_distinct}" if stats.distinct is None else stats.distinct
    rules = (
        (
            not USABLE_NAME.fullmatch(stats.name),
            "not a usable name (letters, digits and underscores, starting with a letter)",
        ),
        (stats.count == 0, "no values"),
        (stats.missing > rows / 2, f"mostly missing ({stats.missing} of {rows} rows)"),
        (stats.distinct == 1, "a single value in every row"),
        (
            bool(words & config.time_words),
            "a date or time (when a row was recorded, not what it is)",
        ),
        (bool(words & config.id_words), "an identifier"),
        (
            (categorical or stats.integer) and stats.distinct == stats.count,
            "a different value in every row (an identifier?)",
        ),
        (
            categorical and (stats.distinct is None or stats.distinct > stats.count / 2),
            f"{many} distinct values in {stats.count} rows: free text, not categories",
        ),
    )
    return next((why for applies, why in rules if applies), None)


def _too_many_classes(target: ColumnStats) -> list[str]:
    """A warning when a classification label has more classes than it has examples to learn
    them from: an identifier or a name column (all or nearly all values distinct) as the label."""
    distinct = target.distinct
    if distinct is not None and distinct <= min(settings().max_sensible_classes, target.count / 2):
        return []
    many = f"more than {target.max_distinct}" if distinct is None else str(distinct)
    instead = (
        "set task_type=regression if it is a quantity, or choose another label"
        if target.numeric
        else "choose another column as the label (LABEL=...): one with fewer classes, or a "
        "number to predict by regression"
    )
    return [
        f"the label '{target.name}' has {many} classes in {target.count} rows: too few rows per "
        f"class to learn them, as for an identifier or free text; {instead}"
    ]


def propose_schema(description: Description, label: str) -> Proposal:
    """Numeric and categorical features for `label`, from a description of the CSV file."""
    if label not in (c.name for c in description.columns):
        names = ", ".join(c.name for c in description.columns)
        raise DataError(
            f"{description.path}: the label column '{label}' is not in the header ({names})"
        )
    if not USABLE_NAME.fullmatch(label):
        raise DataError(f"the label column '{label}' is not a usable name for the trainer")
    target = description.column(label)
    if target.count == 0:
        raise DataError(f"{description.path}: the label column '{label}' has no values")
    warnings = []
    most = settings().max_integer_classes
    if target.numeric and not (target.integer and (target.distinct or 0) <= most):
        task_type, reason = "regression", "the label is a number"
    else:
        shown = ", ".join(sorted(target.values)[:most])
        task_type, reason = "classification", f"the label has {target.distinct} classes: {shown}"
        warnings += _too_many_classes(target)
        if target.distinct == 1:
            warnings.append(
                f"the label '{label}' has a single class: a classifier needs at least two, and "
                "`make prepare` and training refuse it; choose another label (LABEL=...)"
            )
    numeric, categorical, left_out = [], [], {}
    for stats in description.columns:
        if stats.name == label:
            continue
        why = _left_out_reason(stats)
        if why:
            left_out[stats.name] = why
        else:
            (numeric if stats.numeric else categorical).append(stats.name)
    if not numeric and not categorical:
        raise DataError(f"{description.path}: no column looks usable as a feature of '{label}'")
    return Proposal(label, task_type, reason, numeric, categorical, left_out, warnings)


def proposal_text(proposal: Proposal, path: str, data_file: str | None, copier: str) -> str:
    lines = [
        f"Proposed schema for {path} (label: {proposal.label}):",
        f"  task_type             {proposal.task_type} ({proposal.task_reason})",
        f"  numeric_features      {', '.join(proposal.numeric) or '(none)'}",
        f"  categorical_features  {', '.join(proposal.categorical) or '(none)'}",
    ]
    for column, why in proposal.left_out.items():
        lines.append(f"  left out              {column}: {why}")
    lines += [f"warning: {warning}" for warning in proposal.warnings]
    lines += [
        "",
        "The copier answers render trainer/features.py. Commit your work first (copier update",
        "merges into a clean git tree), then apply the proposal with:",
    ]
    if data_file:
        lines.append(
            f"  {shlex.quote(copier)} update --trust --defaults --data-file "
            f"{shlex.quote(data_file)}"
        )
    else:
        lines.append(f"  {proposal.copier_command(copier)}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- prepare

# A number as both Python and the trainer's TensorFlow read it: no "inf", no "1_000", no "0x1f".
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _schema_fix(path: str) -> str:
    """The fix `prepare` names when the data do not fit the project's schema."""
    return (
        f"apply the schema that `make schema RAW_DATA={shlex.quote(path)}` proposes for this "
        "file (copier update), or rename the columns as trainer/features.py declares them"
    )


def check_columns(csv_file: CsvFile, schema: Schema, label: str) -> None:
    """Before anything is written: the label is the schema's, and every column the schema
    declares is in the header under a name the trainer can use."""
    if label != schema.label:
        raise DataError(
            f"--label {label}: the project's schema (trainer/features.py) reads the label "
            f"'{schema.label}'; apply the proposal of `make schema "
            f"RAW_DATA={shlex.quote(csv_file.path)} LABEL={label}` first (copier update), then "
            "prepare without --label"
        )
    if label not in csv_file.header:
        raise DataError(
            f"{csv_file.path}: the label column '{label}' is not in the header "
            f"({', '.join(csv_file.header)}); {_schema_fix(csv_file.path)}"
        )
    missing = [name for name in schema.columns if name not in csv_file.header]
    if missing:
        # A declared column under a name the trainer cannot use ('bill length', 'se-x').
        def letters(name: str) -> str:
            return re.sub(r"[^0-9a-z]", "", name.lower())

        renames = {
            wanted: name
            for name in csv_file.header
            if not USABLE_NAME.fullmatch(name)
            for wanted in missing
            if letters(wanted) == letters(name)
        }
        fixes = [
            f"'{name}' is not a usable column name: rename it {wanted}"
            for wanted, name in renames.items()
        ]
        if set(missing) - set(renames):
            fixes.append(_schema_fix(csv_file.path))
        raise missing_columns(csv_file.path, csv_file.header, missing, "; ".join(fixes))
    unusable = [name for name in schema.columns if not USABLE_NAME.fullmatch(name)]
    if unusable:
        raise DataError(
            f"{csv_file.path}: column(s) {', '.join(repr(n) for n in unusable)} are not usable "
            "names (letters, digits and underscores, starting with a letter: the serving "
            "signature names its inputs after them); rename them in the CSV file and in the "
            "schema (copier update)"
        )


class PrepareChecks:
    """What `prepare` checks of each cleaned row before it is written (a number in every numeric
    column, the label's as well in a regression), and of the whole once every row is read: rows
    in each split, values in each training column, two classes or more, and no evaluation label
    that training never sees. Each refusal names the raw file, and the line where there is one.
    Memory: the label's classes, not the rows."""

    def __init__(self, csv_file: CsvFile, schema: Schema, splits: list[str]):
        self.path = csv_file.path
        self.schema = schema
        header = csv_file.header
        numeric = (*schema.numeric, *(() if schema.is_classification else (schema.label,)))
        self.numeric = [(header.index(name), name) for name in numeric]
        self.label_index = header.index(schema.label)
        self.rows = dict.fromkeys(splits, 0)
        self.unseen = {header.index(name): name for name in schema.features}  # in training
        self.classes: dict[str, dict[str, int]] = {name: {} for name in splits}  # first lines

    def __call__(self, line: int, fields: list[str], split: str) -> None:
        for index, name in self.numeric:
            value = fields[index]
            if value != MISSING and not NUMBER.fullmatch(value):
                raise DataError(
                    f"{self.path}, line {line}: column '{name}' has the value {value!r}, but the "
                    f"project's schema reads '{name}' as a number; correct the value (NA if it "
                    "is missing), or apply the schema `make schema` proposes for this file"
                )
        self.rows[split] += 1
        if split == "train" and self.unseen:
            for index in [i for i in self.unseen if fields[i] != MISSING]:
                del self.unseen[index]
        if self.schema.is_classification:
            self.classes[split].setdefault(fields[self.label_index], line)

    def finish(self, report: CleanReport) -> None:
        label = self.schema.label
        if report.rows_read == 0:
            raise DataError(
                f"{self.path}, line 1: a header and no data rows after it; add the rows to prepare"
            )
        kept = report.rows_read - report.rows_dropped
        if kept == 0:
            raise DataError(
                f"{self.path}: none of its {report.rows_read} rows has a '{label}' value; "
                "the label column is empty"
            )
        for split in ("train", "eval"):
            if self.rows.get(split) == 0:
                raise DataError(
                    f"{self.path}: none of the {kept} labelled rows falls in {split}.csv; add "
                    f"rows, or change --{split}-fraction"
                )
        if "train" in self.rows and self.unseen:
            raise DataError(
                f"{self.path}: column(s) {', '.join(self.unseen.values())} have no value in "
                f"any of the {self.rows['train']} training rows; fill them in, or leave them "
                "out of the features (apply the schema `make schema` proposes)"
            )
        if not self.schema.is_classification:
            return
        every = {c: line for classes in self.classes.values() for c, line in classes.items()}
        if len(every) == 1:
            raise DataError(
                f"{self.path}: the label '{label}' has a single class ({next(iter(every))!r}) "
                f"in all {kept} labelled rows: a classifier needs at least two; choose another "
                "label (make schema LABEL=...), or add rows of the other classes"
            )
        trained = self.classes.get("train", {})
        unseen = {c: line for c, line in self.classes.get("eval", {}).items() if c not in trained}
        if trained and unseen:
            value, line = min(unseen.items(), key=lambda item: item[1])
            raise DataError(
                f"{self.path}, line {line}: the label value {value!r} falls in eval.csv but in no "
                "training row, and a model cannot learn a class it never sees; add rows of it, "
                "or leave them out"
            )


def prepare(args: argparse.Namespace) -> list[str]:
    """Clean, split, instances and stats file, checked as the rows go by and switched in at the
    end: a refusal leaves the previous split, instances and stats file as they were."""
    from workflow import split_stats  # noqa: PLC0415 -- numpy (+0.1 s): prepare's alone

    schema = _project_schema()
    label = args.label or schema.label
    percents = split_percents(args.train_fraction, args.eval_fraction, args.test_fraction)
    out_dir = Path(args.out_dir)
    instances = Path(args.instances or out_dir / "instances.json")
    with ExitStack() as stack:
        csv_file = read_csv(args.input, stack)
        check_columns(csv_file, schema, label)
        key_index = column_index(csv_file, args.key, "key") if args.key else None
        splitter = Splitter(percents, key_index)
        splits = [name for _, name in splitter.cuts]
        checks = PrepareChecks(csv_file, schema, splits)
        # The instances come from held-out rows: eval.csv, else test.csv (else train.csv).
        source = next(name for name in ("eval", "test", "train") if name in splits)
        picker = InstancePicker(checks.label_index)
        report = CleanReport()

        def check(line: int, fields: list[str], split: str) -> None:
            checks(line, fields, split)
            if split == source:
                picker.add(line, fields)

        staging = stack.enter_context(Staging())
        result = write_splits(
            csv_file.path,
            csv_file.header,
            clean_rows(csv_file, label, report),
            splitter,
            out_dir,
            staging=staging,
            shard_counts={"train": args.shards, "eval": args.eval_shards},
            check=check,
        )
        checks.finish(report)
        staging.files.close()  # complete, for the stats' scan
        lines = [
            *report.lines(args.input, label),
            *split_lines(result),
            write_instances(
                csv_file,
                picker,
                result[source][0][0],
                instances,
                schema=schema,
                staging=staging,
            ),
        ]
        lines += split_stats.write_for_split(result, out_dir, schema, staging)
        staging.switch()
    return lines


# -------------------------------------------------------------------------------- the CLI


def _project_schema() -> Schema:
    """The rendered project's schema, read when a command needs it: the template's own tests
    import this module from template/, where features.py is still features.py.jinja."""
    from trainer.features import SCHEMA  # noqa: PLC0415 -- see the docstring

    return SCHEMA


def _venv_copier() -> str:
    """The copier beside this Python, as a path that runs from here: it is installed in the
    project's virtualenv, which is not on PATH."""
    copier = Path(sys.executable).parent / "copier"
    if not copier.is_file():
        return "copier"
    try:
        return str(copier.relative_to(Path.cwd()))
    except ValueError:
        return str(copier)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.data",
        description="Prepare a CSV dataset: clean it, split it, describe it, propose its schema.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def label_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--label", help="the label column (default: the project's)")

    def split_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--out-dir", default=shards.DATA_DIR, help="where train.csv, eval.csv go")
        p.add_argument(
            "--key",
            default=settings().split_key,
            help="hash this column (a unique id) instead of the whole row; rows sharing "
            "a key then stay together (default: config/data.yaml's split.key)",
        )
        for name, default in zip(SPLITS, settings().fractions, strict=True):
            p.add_argument(
                f"--{name}-fraction",
                type=float,
                default=default,
                help=f"share of rows in {name}.csv, from 0 to 1 in steps of 0.01 "
                f"(default: {default}, config/data.yaml's split.{name}_fraction)",
            )
        for split, flag in (("train", "--shards"), ("eval", "--eval-shards")):
            p.add_argument(
                flag,
                type=_shard_count,
                default=1,
                metavar="N",
                help=f"write {split}.csv as N files, {split}-00000-of-0000N.csv ..., so that "
                "N workers each read their own (default: 1)",
            )

    clean = commands.add_parser(
        "clean",
        help="drop rows with no label, write missing values as NA, strip spaces",
    )
    clean.add_argument("input")
    clean.add_argument("-o", "--output", required=True)
    label_flag(clean)

    split = commands.add_parser("split", help="split by a hash: train.csv, eval.csv, test.csv")
    split.add_argument("input")
    split_flags(split)

    prepare = commands.add_parser(
        "prepare", help="clean, split, and write a few evaluation rows as instances.json"
    )
    prepare.add_argument("input")
    label_flag(prepare)
    split_flags(prepare)
    prepare.add_argument(
        "--instances",
        metavar="FILE",
        help="where the instances for `make predict` go (default: OUT_DIR/instances.json)",
    )

    describe_ = commands.add_parser("describe", help="per-column counts, ranges, categories")
    describe_.add_argument("input")
    describe_.add_argument("--top", type=int, default=5, help="categories shown per column")

    schema = commands.add_parser("schema", help="propose the features for a label")
    schema.add_argument("input")
    label_flag(schema)
    schema.add_argument(
        "--write", metavar="FILE", help="also write the answers as a copier --data-file"
    )
    schema.add_argument(
        "--copier",
        default=_venv_copier(),
        help="the copier command to print (default: the one beside this Python)",
    )
    return parser


def _shard_count(text: str) -> int:
    count = int(text)
    if not 1 <= count <= shards.MAX_SHARDS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {shards.MAX_SHARDS}, not {text}")
    return count


def run(args: argparse.Namespace) -> list[str]:
    """Runs one command; returns the report's lines."""
    if args.command == "describe":
        return [describe(args.input).table(args.top)]
    if args.command == "schema":
        proposal = propose_schema(describe(args.input), args.label or _project_schema().label)
        if args.write:
            Path(args.write).write_text(proposal.answers_yaml())
        return [proposal_text(proposal, args.input, args.write, args.copier)]
    if args.command == "prepare":
        return prepare(args)
    with ExitStack() as stack:
        csv_file = read_csv(args.input, stack)
        staging = stack.enter_context(Staging())
        if args.command == "split":
            percents = split_percents(args.train_fraction, args.eval_fraction, args.test_fraction)
            key_index = column_index(csv_file, args.key, "key") if args.key else None
            result = write_splits(
                csv_file.path,
                csv_file.header,
                csv_file.rows(),
                Splitter(percents, key_index),
                Path(args.out_dir),
                staging=staging,
                shard_counts={"train": args.shards, "eval": args.eval_shards},
            )
            staging.switch()
            return split_lines(result)
        label = args.label or _project_schema().label
        report = CleanReport()
        rows = clean_rows(csv_file, label, report)
        writer = staging.csv_writer(Path(args.output))
        writer.writerow(csv_file.header)
        writer.writerows(fields for _, fields in rows)
        staging.switch()
        return report.lines(args.input, label)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)  # its defaults are settings
        lines = run(args)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
