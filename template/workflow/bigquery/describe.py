"""`make describe` and `make schema` of a bq:// or gs:// source: the local description
(workflow/data/describe.py's per-column counts, ranges and values), computed by BigQuery in two
scans whatever the number of columns, so that the schema proposal reads the same numbers.

- `measures`: per column, values present and missing, whether each kind accepts every present
  value, a number's range and sum and whether all are whole, distinct values, words;
- `values`: the count of each value of the columns with at most max_distinct of them.

A column with more distinct values keeps none, as locally; whether a value repeats is exact here
(more distinct values than present ones), where the local pass looks for repeats among the first
max_distinct values.
"""

from __future__ import annotations

from collections import Counter

from trainer.kinds import KINDS, NUMERIC
from workflow.bigquery import sql
from workflow.bigquery.queries import stripped_rows
from workflow.bigquery.session import Session, open_session
from workflow.data.describe import ColumnStats, Description
from workflow.data.settings import settings


def measures_query(session: Session) -> str:
    tokens = settings().missing_tokens
    measures = ["COUNT(*) AS rows_"]
    for i in range(len(session.table.columns)):
        cell, present = f"_s{i}", f"NOT ({sql.is_token(f'_s{i}', tokens)})"
        number = (
            f"IF({present} AND {sql.valid_cell(NUMERIC, cell)}, SAFE_CAST({cell} AS FLOAT64), NULL)"
        )
        measures += [
            f"COUNTIF({present}) AS count_{i}",
            f"COUNTIF(NOT ({present})) AS missing_{i}",
            *(
                f"COUNTIF({present} AND NOT ({sql.valid_cell(kind, cell)})) "
                f"AS refused_{kind.name}_{i}"
                for kind in KINDS
                if kind.cell_pattern is not None
            ),
            f"MIN({number}) AS minimum_{i}",
            f"MAX({number}) AS maximum_{i}",
            f"SUM({number}) AS total_{i}",
            f"LOGICAL_AND(IF({number} IS NULL, NULL, {number} = TRUNC({number}) "
            f"AND STRPOS({cell}, '.') = 0)) AS whole_{i}",
            f"COUNT(DISTINCT IF({present}, {cell}, NULL)) AS distinct_{i}",
            f"SUM(IF({present}, ARRAY_LENGTH(REGEXP_EXTRACT_ALL({cell}, r'{sql.WORD}')), 0)) "
            f"AS words_{i}",
        ]
    return (
        stripped_rows(session.table)
        + f"measured AS (SELECT {', '.join(measures)} FROM stripped)\nSELECT * FROM measured"
    )


def values_query(session: Session, columns: list[int]) -> str:
    """The count of each present value of `columns` (their indices)."""
    tokens = settings().missing_tokens
    pairs = ", ".join(f"STRUCT({i} AS c, _s{i} AS v)" for i in columns)
    return (
        stripped_rows(session.table) + "pairs AS (SELECT pair.c, pair.v FROM stripped, "
        f"UNNEST([{pairs}]) AS pair)\n"
        f"SELECT c, v, COUNT(*) AS n FROM pairs WHERE NOT ({sql.is_token('v', tokens)}) "
        "GROUP BY 1, 2"
    )


def describe(uri: str) -> tuple[Description, list[str], list[str]]:
    """The source's description; the line of its queries' cost; and for a typed table, the note
    that `make schema` adds on the key column to split it by."""
    session = open_session(uri)
    config = settings()
    n = len(session.table.columns)
    steps = [
        ("describe", measures_query(session)),
        ("values", values_query(session, list(range(n)))),
    ]
    cost = session.priced(steps, dry_run=False)
    row = session.jobs.query("describe", steps[0][1])[0]
    counted = [i for i in range(n) if row[f"distinct_{i}"] <= config.max_distinct]
    values: dict[int, Counter] = {i: Counter() for i in counted}
    if counted:
        for found in session.jobs.query("values", values_query(session, counted)):
            values[found["c"]][found["v"]] = found["n"]
    columns = []
    for i, name in enumerate(session.table.columns):
        stats = ColumnStats(name, config.missing_tokens, config.max_distinct, config.max_words)
        stats.count, stats.missing = row[f"count_{i}"], row[f"missing_{i}"]
        stats.refused_by = {
            kind.name
            for kind in KINDS
            if kind.cell_pattern is not None and row[f"refused_{kind.name}_{i}"]
        }
        if stats.numeric and stats.count:
            stats.minimum, stats.maximum = row[f"minimum_{i}"], row[f"maximum_{i}"]
            stats.total = row[f"total_{i}"]
            stats.whole = bool(row[f"whole_{i}"])
        stats.total_words = row[f"words_{i}"] or 0
        stats.repeated = row[f"distinct_{i}"] < stats.count
        if i in values:
            stats.values = values[i]
        else:
            stats.too_many = True
        columns.append(stats)
    keys = key_notes(columns, row["rows_"]) if session.table.typed else []
    return Description(uri, row["rows_"], columns), [cost], keys


def key_notes(columns: list[ColumnStats], rows: int) -> list[str]:
    """The split's key for a typed table: an identifier with a value in every row, none twice.
    Its whole rows hash as BigQuery writes its typed values, which a CSV file of the same data
    need not (1.50 and 1.5)."""
    keys = [c.name for c in columns if c.id_named and c.count == rows and not c.repeated]
    if not keys:
        return [
            "note: a typed table without an id column splits by a hash of its whole rows as "
            "BigQuery writes them; add a unique id and set split.key (docs/data.md)"
        ]
    return [
        f"note: split this table by its key {keys[0]!r}: set `key: {keys[0]}` under split: in "
        "config/data.yaml (or PREPARE_ARGS=--key ...); a typed table's whole rows hash as "
        "BigQuery writes them (docs/data.md)"
    ]
