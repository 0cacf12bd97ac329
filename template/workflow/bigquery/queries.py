"""The prepare's queries. Every one reads the source through the same steps (`rows`): each cell
as text, stripped and cleaned, each row's key, its digest, and its split from the digest, as the
local prepare computes them. So a query never depends on another's output, a dry run prices
each one exactly, and the number of scans does not grow with the number of columns:

- `checks`: one scan, grouped by split (and class): rows, dropped rows, missing and trimmed
  values, cells that are not of their column's kind, values in training, and a few rows for
  the instances;
- `export(split, shard)`: one scan per file set, EXPORT DATA to Cloud Storage.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainer.kinds import KINDS, FeatureKind
from trainer.schema import Schema
from workflow.bigquery import sql
from workflow.bigquery.source import Table
from workflow.data.clean import MISSING
from workflow.data.picking import INSTANCE_COUNT

NA = sql.string_literal(MISSING)


def stripped_rows(table: Table) -> str:
    """The first steps of every query: each cell as text _r<i> (a typed one cast), and stripped
    _s<i>, as `clean` strips it. Ends with a comma, for the next step."""
    raw = ", ".join(
        (
            f"CAST({sql.quote_name(stored)} AS STRING)"
            if name in table.typed
            else sql.quote_name(stored)
        )
        + f" AS _r{i}"
        for i, (name, stored) in enumerate(zip(table.columns, table.stored, strict=True))
    )
    stripped = ", ".join(f"{sql.stripped(f'_r{i}')} AS _s{i}" for i in range(len(table.columns)))
    return (
        f"WITH raw AS (SELECT {raw} FROM {table.sql_name}),\n"
        f"stripped AS (SELECT *, {stripped} FROM raw),\n"
    )


@dataclass(frozen=True)
class Queries:
    table: Table
    schema: Schema
    label: str
    tokens: frozenset[str]
    percents: dict[str, int]  # split -> whole percentage
    key: str | None  # a column, or None: the whole row
    shards: dict[str, int]  # split -> files

    def column(self, name: str) -> int:
        return self.table.columns.index(name)

    @property
    def rows(self) -> str:
        """The common steps: raw text _r<i>, stripped _s<i>, cleaned _c<i>, then _labelled,
        _key, _digest, _split, and _line (the cleaned row as a CSV line, for instances)."""
        n = len(self.table.columns)
        cleaned = ", ".join(f"{sql.cleaned(f'_s{i}', self.tokens)} AS _c{i}" for i in range(n))
        line = sql.row_line([f"_c{i}" for i in range(n)])
        key = f"_c{self.column(self.key)}" if self.key else "_line"
        cuts, bound = [], 0
        for split, percent in self.percents.items():
            if percent:
                bound += percent
                cuts.append(f"WHEN _bucket < {bound} THEN '{split}'")
        shard_cases = " ".join(
            f"WHEN '{split}' THEN {sql.shard_number('_digest', count)}"
            for split, count in self.shards.items()
            if count > 1
        )
        shard = f"CASE _split {shard_cases} ELSE 0 END" if shard_cases else "0"
        label = f"_c{self.column(self.label)}"
        return (
            stripped_rows(self.table) + f"cleaned AS (SELECT *, {cleaned} FROM stripped),\n"
            f"lined AS (SELECT *, {line} AS _line FROM cleaned),\n"
            f"keyed AS (SELECT *, {label} != {NA} AS _labelled, {key} AS _key FROM lined),\n"
            f"digested AS (SELECT *, {sql.hex_digest('_key')} AS _digest FROM keyed),\n"
            f"bucketed AS (SELECT *, {sql.hash_bucket('_digest')} AS _bucket FROM digested),\n"
            f"split AS (SELECT *, CASE {' '.join(cuts)} END AS _split FROM bucketed),\n"
            f"rows AS (SELECT *, {shard} AS _shard FROM split)\n"
        )

    def checks(self) -> str:
        """One row per (labelled, split[, class]) with the counts that `checks` reads."""
        n = len(self.table.columns)
        measures = ["COUNT(*) AS n"]
        for i in range(n):
            token = sql.is_token(f"_s{i}", self.tokens)
            measures += [
                f"COUNTIF({token} AND IFNULL(_r{i}, '') != {NA}) AS normalised_{i}",
                f"COUNTIF(NOT ({token}) AND _s{i} != IFNULL(_r{i}, '')) AS trimmed_{i}",
                f"COUNTIF(_c{i} != {NA}) AS present_{i}",
            ]
        for kind, names in self.typed_columns():
            for name in names:
                i = self.column(name)
                valid = sql.valid_cell(kind, f"_c{i}")
                bad = f"_c{i} != {NA} AND NOT ({valid})"
                measures += [
                    f"COUNTIF({bad}) AS bad_{i}",
                    f"MIN(IF({bad}, _c{i}, NULL)) AS bad_value_{i}",
                ]
        # A value with a line break: the trainer reads a row per line (a load may not refuse it).
        cells = ", ".join(f"IFNULL(_r{i}, '')" for i in range(n))
        measures.append(f"COUNTIF(REGEXP_CONTAINS(CONCAT({cells}), r'[\n\r]')) AS broken")
        if self.key:
            measures.append(f"COUNTIF(_key = {NA}) AS no_key")
        # The instances' candidates: each group's first rows by digest, the digest first.
        measures.append(
            f"ARRAY_AGG(CONCAT(_digest, ',', _line) ORDER BY _digest LIMIT {INSTANCE_COUNT}) "
            "AS first_lines"
        )
        label = f"_c{self.column(self.label)}"
        the_class = f"IF(_labelled, {label}, NULL)" if self.schema.is_classification else "NULL"
        return (
            self.rows
            + f"SELECT _labelled, _split, {the_class} AS _class, "
            + ", ".join(measures)
            + " FROM rows GROUP BY 1, 2, 3"
        )

    def typed_columns(self) -> list[tuple[FeatureKind, tuple[str, ...]]]:
        """The columns whose present cells must match their kind's pattern."""
        return [
            (kind, self.schema.read_as(kind)) for kind in KINDS if kind.cell_pattern is not None
        ]

    def export(self, uri: str, split: str, shard: int | None = None) -> str:
        """EXPORT DATA of one split's labelled rows (one shard's, with `shard`) as CSV files
        with a header, at `uri` (a pattern with one *)."""
        names = ", ".join(
            f"_c{i} AS {sql.quote_name(name)}" for i, name in enumerate(self.table.columns)
        )
        where = f"_labelled AND _split = '{split}'"
        if shard is not None:
            where += f" AND _shard = {shard}"
        return (
            f"EXPORT DATA OPTIONS (uri = {sql.string_literal(uri)}, format = 'CSV', "
            "overwrite = true, header = true) AS\n"
            + self.rows
            + f"SELECT {names} FROM rows WHERE {where}"
        )
