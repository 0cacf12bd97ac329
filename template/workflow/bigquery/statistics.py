"""The stats file of the split that BigQuery exported, from SQL aggregates: the statistics that
the local prepare computes (trainer/stats.py's Accumulator, over the prepared files), in the
same format, so that the cloud jobs train with `--stats-file` on either.

Two scans of the source, whatever the number of columns:
- `moments_query`: per split, the rows kept and dropped, each number's count, mean, variance and
  percentiles, each date's trend and whether it has times, each category's distinct count;
- `values_query`: per split, the count of each value of the label (a classification's classes)
  and of the categories that get a vocabulary: those with at most max_vocabulary values. The
  others are hashed, and the stats file holds their count alone.

A cell counts as the trainer reads it in the exported file: missing when it is one of
trainer.csv_reader.MISSING_VALUES; a row is kept when its label is not. A number is the cell's
FLOAT64, as NumPy reads it; a date's days since 1970 come from the integer arithmetic of
trainer/kinds/datetime.py. Each kind's aggregates are one function below (`MEASURES`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from google.cloud import storage

from trainer.csv_reader import MISSING_VALUES, DataError
from trainer.kinds import CATEGORICAL, DATETIME, NUMERIC, FeatureKind
from trainer.kinds.datetime import SECONDS_A_DAY
from trainer.stats import DataStats, Fingerprint, probe_crc32
from workflow.bigquery import sql
from workflow.bigquery.queries import Queries
from workflow.gcs import split_uri

SPLITS = ("train", "eval")
PERCENTILES = 100  # APPROX_QUANTILES' intervals: its points 1 to 99 are the percentiles
_MISSING = ", ".join(sql.string_literal(value) for value in MISSING_VALUES)


def _present(cell: str) -> str:
    return f"{cell} NOT IN ({_MISSING})"


def _days(cell: str) -> str:
    """Days since 1970-01-01 plus the fraction of the day, of an ISO 8601 cell that the checks
    accepted: trainer/kinds/datetime.py's days_since_1970, in SQL's integer arithmetic."""

    def part(start: int, length: int) -> str:
        return f"CAST(SUBSTR({cell}, {start}, {length}) AS INT64)"

    def clock(pattern: str) -> str:
        return f"IFNULL(CAST(REGEXP_EXTRACT({cell}, r'{pattern}') AS INT64), 0)"

    def div(dividend: str, divisor: int) -> str:
        # In parentheses of their own, the dividend and the whole: bqemulator's translation
        # (DuckDB's // operator) drops DIV's.
        return f"(DIV(({dividend}), {divisor}))"

    year, month, day = part(1, 4), part(6, 2), part(9, 2)
    march = div(f"14 - {month}", 12)  # 1 in January and February: they end the previous year
    y, m = f"({year} + 4800 - {march})", f"({month} + 12 * {march} - 3)"
    julian = (
        f"({day} + {div(f'153 * {m} + 2', 5)} + 365 * {y} + {div(y, 4)} - {div(y, 100)} "
        f"+ {div(y, 400)} - 32045)"
    )
    seconds = (
        f"(3600 * {clock('^.{11}([0-9]{2})')} + 60 * {clock('^.{14}([0-9]{2})')} "
        f"+ {clock('^.{16}:([0-9]{2})')})"
    )
    return f"({julian} - 2440588 + {seconds} / {SECONDS_A_DAY})"


def _number(cell: str) -> str:
    """The cell as FLOAT64; NULL when missing, or 'nan', which the Accumulator leaves out."""
    value = f"SAFE_CAST({cell} AS FLOAT64)"
    return f"IF(_kept AND {_present(cell)} AND NOT IS_NAN({value}), {value}, NULL)"


def _moments(i: int) -> list[str]:
    """The count, mean and variance of a column's per-row value _v<i>."""
    return [
        f"COUNT(_v{i}) AS count_{i}",
        f"AVG(_v{i}) AS mean_{i}",
        f"VAR_POP(_v{i}) AS variance_{i}",
    ]


def _numeric(i: int) -> tuple[list[str], list[str]]:
    """(the per-row value, the aggregates) of a numeric column."""
    return [f"{_number(f'_c{i}')} AS _v{i}"], [
        *_moments(i),
        f"APPROX_QUANTILES(_v{i}, {PERCENTILES}) AS quantiles_{i}",
    ]


def _datetime(i: int) -> tuple[list[str], list[str]]:
    present = f"_kept AND {_present(f'_c{i}')}"
    return [f"IF({present}, {_days(f'_c{i}')}, NULL) AS _v{i}"], [
        *_moments(i),
        f"LOGICAL_OR(_v{i} IS NOT NULL AND LENGTH(_c{i}) > 10) AS has_time_{i}",
    ]


def _categorical(i: int) -> tuple[list[str], list[str]]:
    present = f"_kept AND {_present(f'_c{i}')}"
    return [f"IF({present}, _c{i}, NULL) AS _v{i}"], [
        f"COUNT(_v{i}) AS count_{i}",
        f"COUNT(DISTINCT _v{i}) AS distinct_{i}",
    ]


# Each kind's per-row value and aggregates: a kind without an entry has no BigQuery statistics.
MEASURES: dict[FeatureKind, Callable[[int], tuple[list[str], list[str]]]] = {
    NUMERIC: _numeric,
    DATETIME: _datetime,
    CATEGORICAL: _categorical,
}


def _columns(queries: Queries) -> list[tuple[FeatureKind, int]]:
    schema = queries.schema
    return [(kind, queries.column(name)) for kind in MEASURES for name in schema.read_as(kind)]


def _kept(queries: Queries) -> str:
    """The common steps, and each exported row with `_kept`: its label is not missing."""
    label = f"_c{queries.column(queries.schema.label)}"
    return (
        queries.rows + f", kept AS (SELECT *, {_present(label)} AS _kept FROM rows "
        "WHERE _labelled AND _split IN ('train', 'eval'))\n"
    )


def moments_query(queries: Queries) -> str:
    values, measures = [], ["COUNTIF(_kept) AS rows_kept", "COUNTIF(NOT _kept) AS rows_dropped"]
    for kind, i in _columns(queries):
        value, aggregates = MEASURES[kind](i)
        values += value
        measures += aggregates
    return (
        _kept(queries)
        + f", valued AS (SELECT *, {', '.join(values)} FROM kept)\n"
        + f"SELECT _split, {', '.join(measures)} FROM valued GROUP BY _split"
    )


def values_query(queries: Queries, columns: Sequence[int]) -> str:
    """The count of each present value of `columns` (their indices), per split."""
    pairs = ", ".join(f"STRUCT({i} AS c, _c{i} AS v)" for i in columns)
    return (
        _kept(queries) + f"SELECT _split, pair.c AS c, pair.v AS v, COUNT(*) AS n FROM kept, "
        f"UNNEST([{pairs}]) AS pair WHERE _kept AND {_present('pair.v')} GROUP BY 1, 2, 3"
    )


def vocabulary_candidates(queries: Queries) -> list[int]:
    """The columns whose values the stats file may list: a classification's label, and every
    categorical feature."""
    schema = queries.schema
    label = [queries.column(schema.label)] if schema.is_classification else []
    return label + [queries.column(name) for name in schema.of(CATEGORICAL)]


def vocabulary_columns(queries: Queries, moments: Mapping[str, Mapping]) -> list[int]:
    """The columns whose values the stats file lists: a classification's label, and each
    categorical feature within max_vocabulary (0: any number) in some split."""
    schema = queries.schema
    limit = schema.max_vocabulary
    columns = [queries.column(schema.label)] if schema.is_classification else []
    for name in schema.of(CATEGORICAL):
        i = queries.column(name)
        if not limit or any(row[f"distinct_{i}"] <= limit for row in moments.values()):
            columns.append(i)
    return columns


def data_stats(
    queries: Queries,
    moments: Mapping[str, Mapping],
    counts: Mapping[str, Mapping[int, dict[str, int]]],
    description: Mapping[str, str],
) -> dict[str, DataStats]:
    """Each split's DataStats, from the two queries' rows: `moments` by split, and `counts`
    {split: {column: {value: rows}}}. A column without a value in a split is refused, as the
    Accumulator refuses it."""
    schema = queries.schema
    out = {}
    for split in SPLITS:
        row = moments[split]
        statistics: dict[str, dict] = {name: {} for kind in MEASURES for name in kind.statistics}
        for kind, i in _columns(queries):
            name = queries.table.columns[i]
            if not row[f"count_{i}"]:
                raise DataError(f"{description[split]}: column '{name}' has no values")
            if kind is NUMERIC:
                statistics["mean"][name] = row[f"mean_{i}"]
                statistics["variance"][name] = row[f"variance_{i}"]
                statistics["quantiles"][name] = list(row[f"quantiles_{i}"][1:PERCENTILES])
            elif kind is DATETIME:
                statistics["days_mean"][name] = row[f"mean_{i}"]
                statistics["days_variance"][name] = row[f"variance_{i}"]
                statistics["has_time"][name] = bool(row[f"has_time_{i}"])
            elif 0 < schema.max_vocabulary < row[f"distinct_{i}"]:
                statistics["hashed"][name] = row[f"distinct_{i}"]
            else:
                ranked = sorted(counts[split][i].items(), key=lambda item: (-item[1], item[0]))
                statistics["vocabularies"][name] = [value for value, _ in ranked]
        classes = sorted(counts[split].get(queries.column(schema.label), {}))
        out[split] = DataStats(
            rows=row["rows_kept"],
            dropped_rows=row["rows_dropped"],
            **statistics,
            classes=classes if schema.is_classification else [],
        )
    return out


def fingerprint(client: storage.Client, uri: str) -> Fingerprint:
    """An exported object's fingerprint: its size and CRC32C from its metadata, and the CRC-32
    of its first and last 64 KiB, read as ranges. The object is never downloaded whole."""
    bucket, name = split_uri(uri)
    blob = client.bucket(bucket).get_blob(name)
    if blob is None:
        raise DataError(f"{uri}: BigQuery reported it exported, but it is not in the bucket")

    def read_block(offset: int, length: int) -> bytes:
        return blob.download_as_bytes(start=offset, end=offset + length - 1) if length else b""

    return Fingerprint(
        name.rsplit("/", 1)[-1], blob.size, probe_crc32(read_block, blob.size), blob.crc32c
    )
