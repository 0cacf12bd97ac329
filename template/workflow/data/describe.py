"""Describing a CSV file in one pass: per column, its values, missing values, ranges and top
categories (`make describe`, and what the schema proposal reads)."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Collection
from contextlib import ExitStack
from dataclasses import dataclass, field

from trainer.kinds import DATETIME, KINDS, NUMERIC, FeatureKind, recognize
from workflow.data.reading import read_csv
from workflow.data.settings import settings


@dataclass
class ColumnStats:
    name: str
    missing_tokens: Collection[str]
    max_distinct: int  # distinct values counted before the column counts as high-cardinality
    count: int = 0  # values present
    missing: int = 0
    whole: bool = True  # every present number is a whole one
    minimum: float = math.inf
    maximum: float = -math.inf
    total: float = 0.0
    values: Counter = field(default_factory=Counter)
    too_many: bool = False  # more than max_distinct distinct values: `values` was dropped
    refused_by: set[str] = field(default_factory=set)  # kinds that a present value is not of

    def add(self, value: str) -> None:
        value = value.strip()
        if value in self.missing_tokens:
            self.missing += 1
            return
        self.count += 1
        for kind in KINDS:
            if kind.name not in self.refused_by and not kind.accepts_cell(value):
                self.refused_by.add(kind.name)
        if self.numeric:
            number = float(value)
            self.minimum = min(self.minimum, number)
            self.maximum = max(self.maximum, number)
            self.total += number
            self.whole = self.whole and number.is_integer() and "." not in value
        if not self.too_many:
            self.values[value] += 1
            if len(self.values) > self.max_distinct:
                self.too_many = True
                self.values = Counter()

    @property
    def numeric(self) -> bool:
        """Every present value is a number as `make prepare` and the trainer read it (no "inf",
        "1_000" or "0x1f"): `make schema` never proposes a numeric feature that prepare refuses."""
        return self.accepts(NUMERIC)

    @property
    def integer(self) -> bool:
        return self.numeric and self.whole

    def accepts(self, kind: FeatureKind) -> bool:
        """Whether every present value is one that `make prepare` accepts in a column of `kind`."""
        return kind.name not in self.refused_by

    @property
    def distinct(self) -> int | None:
        """The number of distinct values, or None when there are more than max_distinct."""
        return None if self.too_many else len(self.values)

    @property
    def kind(self) -> str:
        """The feature kind `make schema` would propose for the column (trainer/kinds)."""
        if self.count == 0:
            return "empty"
        return recognize(self).name

    def summary(self, top: int) -> str:
        if self.count == 0:
            return ""
        if self.numeric:
            mean = self.total / self.count
            return f"min {self.minimum:g}, max {self.maximum:g}, mean {mean:.4g}"
        if self.too_many:
            return f"more than {self.max_distinct} distinct values"
        if recognize(self) is DATETIME:
            days = sorted(value[:10] for value in self.values)  # YYYY-MM-DD sorts as days do
            return f"from {days[0]} to {days[-1]}"
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
