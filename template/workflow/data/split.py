"""The split: each row goes to train, eval or test by a hash of its key column or of the whole
row, never by its position or a random draw; the split's files, in shards where asked."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable
from pathlib import Path

from trainer.csv_reader import DataError
from workflow import shards
from workflow.data.settings import HASH_BUCKETS, SPLITS, settings
from workflow.data.swap import Staging


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
