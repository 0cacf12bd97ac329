"""Computing and writing the stats file of a split (data/stats.json): the trainer's statistics of
the training data, computed once on this machine, so that no job, worker or tuning trial scans
the data before its first step. The stats file itself, and what it holds, is trainer/stats.py's.

    python -m workflow.split_stats --train-files data/train-*.csv --eval-files data/eval.csv

`make prepare` writes it beside the split; `make stage-data` uploads it with the data, and the
submit scripts pass the staged copy with `--stats-file`. The numbers come from the trainer's own
`trainer.stats.Accumulator`, fed the same blocks of lines as the trainer's scan (both read them
with trainer/csv_reader.py), so they are the numbers the trainer would compute. Each file is
described by its name, size and checksums (see trainer/stats.py), and the trainer refuses the
stats file when a file no longer matches.

No TensorFlow here.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from trainer.csv_reader import DataError, check_columns, open_csv
from trainer.schema import Schema
from trainer.stats import (
    STATS_FILE_NAME,
    Accumulator,
    DataStats,
    DescribedFiles,
    Fingerprint,
    StatsFile,
    check_training_stats,
    probe_crc32,
)
from workflow import shards


def _blocks(path: str, schema: Schema) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
    """The declared columns of `path` as bytes, in the trainer's blocks of lines (see
    trainer/csv_reader.py), with each row's line number."""
    with ExitStack() as stack:
        csv_file = open_csv(path, stack)
        header = check_columns(path, csv_file.header, schema.columns)
        positions = [header.index(column) for column in schema.columns]
        for block in csv_file.blocks():
            columns = {
                name: np.array([row[i].encode() for row in block.rows], dtype=object)
                for name, i in zip(schema.columns, positions, strict=True)
            }
            yield columns, np.array(block.lines, dtype=np.int64)


def scan(paths: Sequence[str], schema: Schema) -> DataStats:
    """One pass over local CSV files: the statistics the trainer's scan learns from them."""
    accumulator = Accumulator(schema)
    for path in paths:
        for columns, line_numbers in _blocks(str(path), schema):
            accumulator.add(str(path), columns, line_numbers)
    return accumulator.result(", ".join(map(str, paths)))


def fingerprint(path: str | Path, name: str | None = None) -> Fingerprint:
    """The file's fingerprint, under its own name or `name` (a file written under a temporary
    name, described by the name it will have)."""
    from workflow import gcs  # noqa: PLC0415 -- Cloud Storage's checksum, only when writing

    size = os.path.getsize(path)
    with open(path, "rb") as f:

        def read_block(offset: int, length: int) -> bytes:
            f.seek(offset)
            return f.read(length)

        probe = probe_crc32(read_block, size)
    return Fingerprint(name or Path(path).name, size, probe, gcs.crc32c(str(path)))


def describe(
    train_paths: Sequence[str | Path],
    eval_paths: Sequence[str | Path],
    schema: Schema,
    names: Mapping[str, str] | None = None,
) -> StatsFile:
    """The stats file of these files. `names` maps a path (as a string) to the name the stats
    file gives it, when that is not the path's own."""
    names = names or {}

    def described(paths: Sequence[str | Path]) -> DescribedFiles:
        if not paths:
            return DescribedFiles([], DataStats())
        fingerprints = [fingerprint(p, names.get(str(p))) for p in paths]
        if len({f.name for f in fingerprints}) != len(fingerprints):
            raise DataError(f"two files share a name in {', '.join(map(str, paths))}")
        return DescribedFiles(fingerprints, scan([str(p) for p in paths], schema))

    return StatsFile(schema, described(train_paths), described(eval_paths))


def write_for_split(
    split: dict[str, tuple[list[Path], int]], out_dir: Path, schema: Schema, staging
) -> list[str]:
    """Writes out_dir/stats.json, through `staging` (workflow.data.swap.Staging), for the split that
    `make prepare` wrote there under temporary names; returns the report's lines: its own, and
    a warning for each categorical feature with very many values. Without training rows there
    are no statistics: the previous stats file goes at the switch, as it describes files that
    the switch replaces."""
    target = out_dir / STATS_FILE_NAME
    if "train" not in split:
        staging.remove(target)
        return [f"warning: {target} not written: the split has no training rows"]
    temps = {
        name: [staging.temp_of(path) for path in split[name][0]]
        for name in ("train", "eval")
        if name in split
    }
    names = {str(staging.temp_of(path)): path.name for paths, _ in split.values() for path in paths}
    stats_file = describe(temps["train"], temps.get("eval", []), schema, names)
    warnings = check_training_stats(
        stats_file.train.stats, schema, shards.describe_paths(split["train"][0])
    )
    with staging.open(target) as f:
        f.write(stats_file.to_json())
    return [
        f"{target}: statistics of the {stats_file.train.stats.rows} training rows "
        "(train with --stats-file to skip the scan before training)",
        *(f"warning: {warning}" for warning in warnings),
    ]


def write(stats_file: StatsFile, target: Path) -> None:
    """Writes the stats file whole, or leaves the previous one as it was."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with open(fd, "w", encoding="utf-8") as f:
            f.write(stats_file.to_json())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def check_matches(stats_path: Path, files: Sequence[Path]) -> None:
    """The stats file describes files among `files` (by name), and each of them has the size and
    whole-file checksum it describes: a DataError naming the first that does not."""
    stats_file = StatsFile.from_json(stats_path.read_text(), str(stats_path))
    by_name = {path.name: path for path in files}
    for fp in [*stats_file.train.files, *stats_file.eval.files]:
        path = by_name.get(fp.name)
        if path is None:
            raise DataError(
                f"{stats_path} describes {fp.name}, which is not among the files given with it"
            )
        if fingerprint(path) != fp:
            raise DataError(
                f"{path}: changed since {stats_path} was written; run `make prepare` again"
            )


def _expand(patterns: Sequence[str]) -> list[str]:
    files = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise DataError(f"{pattern}: no such file")
        files.extend(matches)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.split_stats",
        description="Write the stats file of local training and evaluation files, for the "
        "trainer's --stats-file (make prepare writes one for its split).",
    )
    parser.add_argument("--train-files", nargs="+", required=True, metavar="FILE")
    parser.add_argument("--eval-files", nargs="+", required=True, metavar="FILE")
    parser.add_argument(
        "-o",
        "--output",
        default=f"{shards.DATA_DIR}/{STATS_FILE_NAME}",
        help="default: %(default)s",
    )
    args = parser.parse_args(argv)
    from trainer.features import SCHEMA  # noqa: PLC0415 -- rendered (as in workflow/data/reading.py)

    try:
        train, eval_ = _expand(args.train_files), _expand(args.eval_files)
        stats_file = describe(train, eval_, SCHEMA)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write(stats_file, Path(args.output))
    print(summary(Path(args.output), stats_file))
    return 0


def summary(path: Path, stats_file: StatsFile) -> str:
    train, eval_ = stats_file.train, stats_file.eval
    return (
        f"{path}: statistics of {train.stats.rows} training rows in {len(train.files)} file(s) "
        f"and {eval_.stats.rows} evaluation rows in {len(eval_.files)} file(s); "
        f"train with --stats-file {path}"
    )


if __name__ == "__main__":
    sys.exit(main())
