"""Describing a CSV file in one pass: per column, its values, missing values, ranges and top
categories (`make describe`, and what the schema proposal reads)."""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Collection
from contextlib import ExitStack
from dataclasses import dataclass, field

from trainer.kinds import CATEGORICAL, DATETIME, KINDS, NUMERIC, FeatureKind, recognize
from workflow.data.reading import read_csv
from workflow.data.settings import settings


@dataclass
class ColumnStats:
    name: str
    missing_tokens: Collection[str]
    max_distinct: int  # distinct values counted before the column counts as high-cardinality
    max_words: float = math.inf  # words a value holds on average, beyond which it is free text
    count: int = 0  # values present
    missing: int = 0
    whole: bool = True  # every present number is a whole one
    minimum: float = math.inf
    maximum: float = -math.inf
    total: float = 0.0
    values: Counter = field(default_factory=Counter)
    too_many: bool = False  # more than max_distinct distinct values: `values` was dropped
    # Past max_distinct, the values counted until then (a bounded set), to see whether one comes
    # back: a column of many values that repeat (an id of customers) is no column of row ids.
    first_values: frozenset[str] = frozenset()
    repeated: bool = False  # a present value occurs twice
    total_words: int = 0  # whitespace-separated words of the present values
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
        self.total_words += len(value.split())
        if not self.too_many:
            self.repeated = self.repeated or value in self.values
            self.values[value] += 1
            if len(self.values) > self.max_distinct:
                self.too_many = True
                self.first_values = frozenset(self.values)
                self.values = Counter()
        elif not self.repeated:
            self.repeated = value in self.first_values

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
    def all_distinct(self) -> bool:
        """No value repeats (past max_distinct values: none of those counted came back)."""
        return not self.repeated

    @property
    def words(self) -> float:
        """Whitespace-separated words a present value holds, on average."""
        return self.total_words / self.count if self.count else 0.0

    @property
    def id_named(self) -> bool:
        """A word of its name marks an identifier (config/data.yaml's id_words)."""
        return bool(name_words(self.name) & settings().id_words)

    def proposed_kind(self) -> FeatureKind:
        """The feature kind `make schema` proposes for the column (trainer/kinds): an identifier
        is a category, whatever its values (a customer's number is no quantity)."""
        return CATEGORICAL if self.id_named else recognize(self)

    @property
    def kind(self) -> str:
        """The name of the kind `make schema` would propose for the column."""
        if self.count == 0:
            return "empty"
        return self.proposed_kind().name

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


def name_words(name: str) -> set[str]:
    """'listing_id' -> {'listing', 'id'}; 'saleDate' -> {'sale', 'date'}."""
    return {word.lower() for word in re.split(r"[_\W]+|(?<=[a-z0-9])(?=[A-Z])", name) if word}


def describe(path: str | os.PathLike) -> Description:
    """One pass over a CSV file: per column, counts, missing values, ranges, top categories."""
    with ExitStack() as stack:
        csv_file = read_csv(path, stack)
        config = settings()
        columns = [
            ColumnStats(name, config.missing_tokens, config.max_distinct, config.max_words)
            for name in csv_file.header
        ]
        rows = 0
        for _, fields in csv_file.rows():
            rows += 1
            for stats, value in zip(columns, fields, strict=True):
                stats.add(value)
    return Description(str(path), rows, columns)
