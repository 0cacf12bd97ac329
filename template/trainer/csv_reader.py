"""Reading CSV files as the trainer reads them: the header's checks, the rows in checked blocks of
lines, and the errors both raise. One implementation for the trainer and the workstation:

- the trainer's TensorFlow pipeline (trainer/inputs.py) takes its header checks, its block size
  and its error messages from here, and decodes the lines with TensorFlow, for speed;
- `make prepare`, `make describe` and `make schema` (workflow/data/), and the stats file's
  scan (workflow/split_stats.py) read their rows with `open_csv`.

A row is a line, as TensorFlow's TextLineDataset reads it: lines are stripped of spaces (and of a
Windows '\\r'), blank lines are skipped but keep their numbers, and a quoted value may not run
on to the next line.

Standard library only (no TensorFlow): the workstation imports this module too.
"""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO

# Cell values that mean "missing" in the CSV files, as pandas and R write them.
MISSING_VALUES = ("", "NA", "NaN")

# Lines per block: the trainer's scan decodes this many at a time, and the workstation's scan
# (workflow/split_stats.py) reads the same blocks, so that their floating-point sums match.
BLOCK_LINES = 4096

# What to do when the data lack a declared column. Most often the schema is one's own, but data/
# still holds the sample's split: `make prepare` has not been run on one's own CSV yet.
MISSING_COLUMNS_FIX = (
    "if you rendered the project for your own data, run `make prepare RAW_DATA=<your csv>` "
    "(data/ holds the sample's split until you prepare your own), or apply the schema "
    "`make schema RAW_DATA=<your csv>` proposes for these files"
)


class DataError(ValueError):
    """Input data that cannot be used; the message names the file, and the line or column."""


def _looks_like_data(name: str, missing: Collection[str]) -> bool:
    if name in missing:
        return True
    try:
        float(name)
    except ValueError:
        return False
    return True


def parse_header(
    path: str, first_line: str, missing: Collection[str] = MISSING_VALUES
) -> list[str]:
    """A file's column names from its first line, checked to be a header: not empty, not a row of
    data (a number or a `missing` value as a name), no name twice. A spreadsheet's "CSV UTF-8"
    starts with a byte-order mark, which is not part of the first column's name."""
    text = first_line.removeprefix("\ufeff")
    if not text.strip():
        raise DataError(f"{path}: the file is empty; expected a header row of column names")
    try:
        names = [name.strip() for name in next(csv.reader([text.strip()]))]
    except csv.Error as err:
        raise _unreadable(f"{path}, line 1", err) from None
    data_like = [name for name in names if _looks_like_data(name, missing)]
    if data_like:
        raise DataError(
            f"{path}: the first line looks like data, not a header of column names "
            f"({data_like[0]!r} is not a column name); add a header row"
        )
    duplicates = sorted(name for name, n in Counter(names).items() if n > 1)
    if duplicates:
        raise DataError(f"{path}: the header names column(s) {', '.join(duplicates)} twice")
    return names


def missing_columns(
    path: str, header: list[str], columns: Iterable[str], fix: str = MISSING_COLUMNS_FIX
) -> DataError | None:
    """The error for the `columns` the header lacks, with `fix` as its remedy; None if none."""
    missing = [column for column in columns if column not in header]
    if not missing:
        return None
    return DataError(
        f"{path}: declared column(s) {', '.join(missing)} missing from the header "
        f"({', '.join(header)}); {fix}"
    )


def check_columns(path: str, header: list[str], columns: Iterable[str]) -> list[str]:
    """The header, once every one of `columns` (those the trainer reads) is among its names."""
    error = missing_columns(path, header, columns)
    if error:
        raise error
    return header


def _unreadable(where: str, err: csv.Error) -> DataError:
    if "new-line" in str(err):  # a lone '\r': the line ends of an old Mac, which no reader splits
        return DataError(
            f"{where}: a carriage return inside the line; save the file with Unix (LF) or "
            "Windows (CRLF) line ends"
        )
    return DataError(f"{where}: {err}")


def wrong_width(path: str, line: int, fields: int, width: int) -> DataError:
    return DataError(f"{path}, line {line}: {fields} fields, but the header has {width} columns")


@dataclass
class Block:
    """Rows of a block of lines: each row's fields, and its line number in the file."""

    lines: Sequence[int]
    rows: list[list[str]]


@dataclass
class CsvFile:
    """A CSV file's checked header, and the lines after it (bytes, without their '\n'), read by
    `blocks` or `rows`."""

    path: str
    header: list[str]
    lines: Iterator[bytes]

    def blocks(self, size: int = BLOCK_LINES) -> Iterator[Block]:
        """The rows, `size` lines at a time (blank lines count, as they do for the trainer)."""
        for numbers, lines in self._line_blocks(size):
            yield Block(numbers, [fields for _, fields in self._rows_of(numbers, lines)])

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Each row as (its line number, its fields)."""
        blocks = self._line_blocks(BLOCK_LINES)
        return itertools.chain.from_iterable(itertools.starmap(self._rows_of, blocks))

    def _line_blocks(self, size: int) -> Iterator[tuple[Sequence[int], list[str]]]:
        """Blocks of `size` lines: the numbers and the stripped text of those not blank."""
        first = 2  # the first line after the header
        while raw := list(itertools.islice(self.lines, size)):
            try:
                text = b"\n".join(raw).decode().split("\n")
            except UnicodeDecodeError:
                raise self._not_utf8(raw, first) from None
            lines = [line.strip() for line in text]
            if all(lines):
                yield range(first, first + len(lines)), lines
            else:
                yield [first + i for i, line in enumerate(lines) if line], list(filter(None, lines))
            first += len(raw)

    def _not_utf8(self, raw: list[bytes], first: int) -> DataError:
        for number, line in enumerate(raw, start=first):
            try:
                line.decode()
            except UnicodeDecodeError as err:
                return DataError(f"{self.path}, line {number}: not UTF-8 text ({err})")
        raise AssertionError("a block that is not UTF-8 has a line that is not")

    def _rows_of(self, numbers: Sequence[int], lines: list[str]) -> Iterator[tuple[int, list[str]]]:
        """The lines' rows, each with the header's width. A last, empty line: a quote left open
        on the block's last line runs into it, as a quoted value that runs on to the next line
        does, which the reader's line count then shows."""
        reader = csv.reader([*lines, ""])
        width = len(self.header)
        try:
            for index, fields in enumerate(reader):
                if reader.line_num != index + 1:
                    raise DataError(
                        f"{self.path}, line {numbers[index]}: a quoted value does not end on its "
                        "line, but the trainer reads a row per line; close the quote, or remove "
                        "the line break inside it"
                    )
                if index == len(lines):
                    return  # the empty line's row
                if len(fields) != width:
                    raise wrong_width(self.path, numbers[index], len(fields), width)
                yield numbers[index], fields
        except csv.Error as err:
            line = numbers[min(reader.line_num, len(lines)) - 1]
            raise _unreadable(f"{self.path}, line {line}", err) from None


def _split_lines(f: IO[bytes], chunk: int = 1 << 20) -> Iterator[bytes]:
    """The file's lines, split at each '\n' alone, as TensorFlow's TextLineDataset splits them
    (tf.io.gfile's readline drops a '\r' inside a line)."""
    rest = b""
    while data := f.read(chunk):
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def open_csv(
    path: str,
    stack: ExitStack,
    missing: Collection[str] = MISSING_VALUES,
    opener: Callable[[str], IO[bytes]] | None = None,
) -> CsvFile:
    """Opens a CSV file (closed with `stack`; `opener(path)` opens it in binary, `open` by
    default) and checks its header (`parse_header`)."""
    try:
        f = stack.enter_context(opener(path) if opener else open(path, "rb"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a CSV file") from None
    lines = _split_lines(f)
    first = next(lines, b"")
    try:
        text = first.decode()
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not a readable CSV text file ({err})") from None
    return CsvFile(path, parse_header(path, text, missing), lines)
