"""What the data commands read: a raw CSV file, with the settings' missing-value tokens, a named
column of it, the column names the trainer can use, and the project's rendered schema."""

from __future__ import annotations

import os
import re
from contextlib import ExitStack

from trainer.csv_reader import CsvFile, DataError, open_csv
from trainer.schema import Schema
from workflow.data.settings import settings

# Column names the trainer can use: they become the serving signature's input names.
USABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


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


def project_schema() -> Schema:
    """The rendered project's schema, read when a command needs it: the template's own tests
    import these modules from template/, where features.py is still features.py.jinja."""
    from trainer.features import SCHEMA  # noqa: PLC0415 -- see the docstring

    return SCHEMA
