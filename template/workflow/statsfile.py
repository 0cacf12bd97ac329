"""The stats file (data/stats.json): the trainer's statistics of the training data, computed once
on this machine, so that no job, worker or tuning trial scans the data before its first step.

    python -m workflow.statsfile --train-files data/train-*.csv --eval-files data/eval.csv

`make prepare` writes it beside the split; `make stage-data` uploads it with the data, and the
submit scripts pass the staged copy with `--stats-file`. The numbers come from the trainer's own
`trainer.stats.Accumulator`, fed the same blocks of lines as the trainer's scan, so they are
the numbers the trainer would compute. Each file is described by its name, size and checksums
(see trainer/stats.py), and the trainer refuses the stats file when a file no longer matches.

No TensorFlow here: this reads the files with the csv module.
"""

from __future__ import annotations

import argparse
import csv
import glob
import itertools
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from trainer.schema import Schema
from trainer.stats import (
    STATS_FILE_NAME,
    Accumulator,
    DataError,
    DataStats,
    DescribedFiles,
    Fingerprint,
    StatsFile,
    parse_header,
    probe_crc32,
)

# Lines per block, as the trainer's scan reads them (trainer.inputs.SCAN_BATCH_SIZE): the same
# blocks give the same floating-point sums.
BLOCK_LINES = 4096


def _blocks(path: str, schema: Schema) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
    """The declared columns of `path`, BLOCK_LINES lines at a time, as bytes, with each row's
    line number: blank lines skipped, every row checked to have the header's width."""
    with open(path, "rb") as f:
        header = parse_header(path, f.readline().decode(errors="replace"), schema)
        positions = [header.index(column) for column in schema.columns]
        number = 1
        while True:
            raw = list(itertools.islice(f, BLOCK_LINES))
            if not raw:
                return
            numbers, lines = [], []
            for line in raw:
                number += 1
                stripped = line.strip()
                if stripped:
                    numbers.append(number)
                    lines.append(stripped.decode(errors="surrogateescape"))
            rows = list(csv.reader(lines))
            for line_number, fields in zip(numbers, rows, strict=True):
                if len(fields) != len(header):
                    raise DataError(
                        f"{path}, line {line_number}: {len(fields)} fields, "
                        f"but the header has {len(header)} columns"
                    )
            columns = {
                name: np.array(
                    [row[i].encode(errors="surrogateescape") for row in rows], dtype=object
                )
                for name, i in zip(schema.columns, positions, strict=True)
            }
            yield columns, np.array(numbers, dtype=np.int64)


def scan(paths: Sequence[str], schema: Schema) -> DataStats:
    """One pass over local CSV files: the statistics the trainer's scan learns from them."""
    accumulator = Accumulator(schema)
    for path in paths:
        for columns, line_numbers in _blocks(str(path), schema):
            accumulator.add(str(path), columns, line_numbers)
    return accumulator.result(", ".join(map(str, paths)))


def fingerprint(path: str | Path) -> Fingerprint:
    from workflow import gcs  # noqa: PLC0415 -- Cloud Storage's checksum, only when writing

    size = os.path.getsize(path)
    with open(path, "rb") as f:

        def read_block(offset: int, length: int) -> bytes:
            f.seek(offset)
            return f.read(length)

        probe = probe_crc32(read_block, size)
    return Fingerprint(Path(path).name, size, probe, gcs.crc32c(str(path)))


def describe(
    train_paths: Sequence[str | Path], eval_paths: Sequence[str | Path], schema: Schema
) -> StatsFile:
    def described(paths: Sequence[str | Path]) -> DescribedFiles:
        if not paths:
            return DescribedFiles([], DataStats())
        names = [Path(p).name for p in paths]
        if len(set(names)) != len(names):
            raise DataError(f"two files share a name in {', '.join(map(str, paths))}")
        return DescribedFiles(
            [fingerprint(p) for p in paths], scan([str(p) for p in paths], schema)
        )

    return StatsFile(schema, described(train_paths), described(eval_paths))


def write_for_split(
    split: dict[str, tuple[list[Path], int]], out_dir: Path, schema: Schema, label: str
) -> str:
    """Writes out_dir/stats.json for the split `make prepare` just wrote; returns the report's
    line. The previous stats file described the files just replaced: when no new one can be
    written (data the project's schema does not read yet), it is deleted."""
    target = out_dir / STATS_FILE_NAME
    try:
        if label != schema.label:
            raise DataError(
                f"the label is '{label}', but the project's schema reads '{schema.label}'"
            )
        if "train" not in split:
            raise DataError("the split has no training rows")
        eval_files = split["eval"][0] if "eval" in split else []
        stats_file = describe(split["train"][0], eval_files, schema)
    except DataError as err:
        target.unlink(missing_ok=True)
        return f"warning: {target} not written: {err}"
    write(stats_file, target)
    return (
        f"{target}: statistics of the {stats_file.train.stats.rows} training rows "
        "(train with --stats-file to skip the scan before training)"
    )


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
        prog="python -m workflow.statsfile",
        description="Write the stats file of local training and evaluation files, for the "
        "trainer's --stats-file (make prepare writes one for its split).",
    )
    parser.add_argument("--train-files", nargs="+", required=True, metavar="FILE")
    parser.add_argument("--eval-files", nargs="+", required=True, metavar="FILE")
    parser.add_argument(
        "-o", "--output", default=f"data/{STATS_FILE_NAME}", help="default: %(default)s"
    )
    args = parser.parse_args(argv)
    from trainer.features import SCHEMA  # noqa: PLC0415 -- the project's schema, for the CLI

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
