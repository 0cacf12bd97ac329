"""Cleaning the raw rows: no row without a label, every missing value written one way (MISSING),
no spaces around values; and the report of what was changed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from trainer.csv_reader import CsvFile
from workflow.data.reading import column_index
from workflow.data.settings import settings

# How `clean` writes a missing value: one of the values the trainer reads as missing
# (trainer.csv_reader.MISSING_VALUES), and what the penguins sample already uses.
MISSING = "NA"


@dataclass
class CleanReport:
    rows_read: int = 0
    rows_dropped: int = 0  # no label
    # column -> missing tokens rewritten, values stripped of spaces: in the header's order
    normalised: Counter = field(default_factory=Counter)
    trimmed: Counter = field(default_factory=Counter)

    def count_columns(self, header: list[str]) -> None:
        """Reports the columns in the header's order, whichever row changes one first."""
        self.normalised.update(dict.fromkeys(header, 0))
        self.trimmed.update(dict.fromkeys(header, 0))

    def lines(self, path: str, label: str) -> list[str]:
        kept = self.rows_read - self.rows_dropped
        out = [
            f"{path}: {self.rows_read} rows read, {self.rows_dropped} dropped "
            f"(no '{label}' value), {kept} kept"
        ]
        if self.normalised.total():
            per_column = ", ".join(f"{c} {n}" for c, n in self.normalised.items() if n)
            out.append(
                f"  {sum(self.normalised.values())} missing value(s) written as {MISSING}: "
                f"{per_column}"
            )
        if self.trimmed.total():
            per_column = ", ".join(f"{c} {n}" for c, n in self.trimmed.items() if n)
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
    report.count_columns(header)
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
