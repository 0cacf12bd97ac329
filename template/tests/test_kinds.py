"""Each feature kind of trainer/kinds through its interface, on a few raw CSV cells: the statistics
it accumulates, how the pipeline decodes the cells, what `make prepare` accepts, how an instance
is written and checked, and the kind `make schema` proposes for the column. A new kind is one more
entry in EXAMPLES."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from trainer.csv_reader import MISSING_VALUES, DataError
from trainer.kinds import KINDS, recognize
from trainer.kinds.base import ColumnBlock, FeatureKind
from trainer.schema import Schema
from workflow.data.describe import ColumnStats
from workflow.instances import NonFinite


@dataclass(frozen=True)
class Example:
    """What a kind makes of one column's raw CSV cells, of which the last row has no label."""

    cells: tuple[str, ...]  # missing ones as MISSING_VALUES spell them
    statistics: dict[str, object]  # of every row but the last
    decoded: tuple  # by the tf.data pipeline, a missing number as NaN
    instance_values: tuple  # each cell as instances.json writes it
    accepted_instances: tuple  # JSON values the serving signature takes
    refused_instances: tuple
    refused_cells: tuple[str, ...] = ()  # present values `make prepare` refuses
    # A value the statistics' scan refuses, and what its error says the cell holds.
    unreadable: tuple[str, str] | None = None


DATES = (
    "2024-01-01",
    "NA",
    "2024-12-31T18:00",
    "",
    "2024-03-01 06:30:00Z",
    "NaN",
    "1970-01-01",
)
# The kept dates' days since 1970-01-01: 2024-01-01 is day 19723; 2024 has 366 days, and March 1
# is its day 60.
DAYS = [19723, 19723 + 365 + 18 / 24, 19723 + 60 + 6.5 / 24]

EXAMPLES = {
    "numeric": Example(
        cells=("1.5", "NA", "-2", "", "3e1", "NaN", "7"),
        statistics={
            "mean": 29.5 / 3,
            "variance": (1.5**2 + 2**2 + 30**2) / 3 - (29.5 / 3) ** 2,
            # The 1st to 33rd percentiles are the smallest of the three values, and so on.
            "quantiles": [-2.0] * 33 + [1.5] * 33 + [30.0] * 33,
        },
        decoded=(1.5, math.nan, -2.0, math.nan, 30.0, math.nan, 7.0),
        instance_values=(1.5, None, -2.0, None, 30.0, None, 7.0),
        accepted_instances=(3, -2.5, 0, None),
        refused_instances=("3", True, [3], {"v": 3}, NonFinite("NaN")),
        refused_cells=("1_000", "inf", "0x1f", "3 kg"),
        unreadable=("3 kg", "the non-numeric value '3 kg'"),
    ),
    "datetime": Example(
        cells=DATES,
        statistics={"days_mean": np.mean(DAYS), "days_variance": np.var(DAYS), "has_time": True},
        decoded=DATES,  # the model parses the strings
        instance_values=(
            "2024-01-01",
            "",
            "2024-12-31T18:00",
            "",
            "2024-03-01 06:30:00Z",
            "",
            "1970-01-01",
        ),
        accepted_instances=("", "2024-02-29", "2024-05-31 14:30:05.250+02:00", "0001-01-01T00:00"),
        refused_instances=(None, 20240531, "31/05/2024", "2023-02-29", "NA", ["2024-01-01"]),
        refused_cells=(
            "31/05/2024",
            "2024-5-31",
            "2024-05-31T14",
            "2024-05-31T24:00",
            "2023-02-29",
            "2024-04-31",
            "20240531",
            "2024-05-31T14:30:00+2",
            "2024-05-31T14:30:00 UTC",
            "\u0662\u0660\u0662\u0664-05-31",  # Arabic-Indic digits, which Python's \d matches
        ),
        unreadable=(
            "31/05/2024",
            "the value '31/05/2024', not an ISO 8601 date or date-time (YYYY-MM-DD or "
            "YYYY-MM-DDTHH:MM[:SS])",
        ),
    ),
    "categorical": Example(
        cells=("red", "NA", "blue", "", "red", "NaN", "green"),
        statistics={"vocabularies": ["red", "blue"]},
        decoded=("red", "", "blue", "", "red", "", "green"),  # missing as an instance has it
        instance_values=("red", "", "blue", "", "red", "", "green"),
        accepted_instances=("red", "", "a value never seen"),
        refused_instances=(None, 3, True, ["red"]),
    ),
}
# A schema with a column of each kind, with each kind's settings at their defaults.
SCHEMA_OF_EVERY_KIND = Schema(
    label="target", task_type="classification", **{k.name: (f"{k.name}_column",) for k in KINDS}
)
KIND_EXAMPLES = [pytest.param(kind, EXAMPLES.get(kind.name), id=kind.name) for kind in KINDS]
UNREADABLE = [
    pytest.param(kind, example, id=kind.name)
    for kind in KINDS
    if (example := EXAMPLES.get(kind.name)) and example.unreadable
]


def _block(cells: tuple[str, ...], column: str = "c") -> ColumnBlock:
    """The cells as the statistics' scans hand them to a kind: bytes, in rows of lines 2, 3, ..."""
    values = np.array([cell.encode() for cell in cells], dtype=object)
    keep = np.ones(len(cells), dtype=bool)
    keep[-1] = False
    return ColumnBlock(
        "data.csv",
        column,
        values,
        ~np.isin(values, [v.encode() for v in MISSING_VALUES]),
        keep,
        np.arange(2, 2 + len(cells)),
    )


def test_every_kind_has_its_example_and_its_field_in_the_schema():
    assert [kind.name for kind in KINDS] == list(EXAMPLES), (
        "each kind of KINDS needs its entry in EXAMPLES, in the order of KINDS"
    )
    columns = {kind.name: (f"{kind.name}_column",) for kind in KINDS}
    schema = Schema(label="target", task_type="classification", **columns)
    assert {name: kind.name for name, kind in schema.feature_kinds.items()} == {
        f"{kind.name}_column": kind.name for kind in KINDS
    }
    assert schema.features == tuple(f"{kind.name}_column" for kind in KINDS)


@pytest.mark.parametrize(("kind", "example"), KIND_EXAMPLES)
def test_the_statistics_are_those_of_the_rows_kept(kind: FeatureKind, example: Example):
    accumulator = kind.accumulator(SCHEMA_OF_EVERY_KIND)
    accumulator.add(_block(example.cells))
    result = accumulator.result()
    assert set(result) <= set(kind.statistics)
    # A variance from sums of squares keeps fewer digits of large values (days since 1970).
    assert result == pytest.approx(example.statistics, rel=1e-9)


@pytest.mark.parametrize(("kind", "example"), KIND_EXAMPLES)
def test_blocks_add_up_and_a_column_without_values_has_no_statistics(kind, example):
    """Two blocks give what one gives (to rounding); no value at all gives None, which the scan
    names as a column without values."""
    whole = kind.accumulator(SCHEMA_OF_EVERY_KIND)
    whole.add(_block(example.cells))
    parts = kind.accumulator(SCHEMA_OF_EVERY_KIND)
    parts.add(_block((*example.cells[:3], "NA")))  # its last row is the one dropped
    parts.add(_block(example.cells[3:]))
    assert parts.result() == pytest.approx(whole.result(), rel=1e-12)
    empty = kind.accumulator(SCHEMA_OF_EVERY_KIND)
    empty.add(_block(("NA", "", example.cells[0])))  # the one value is in the dropped row
    assert empty.result() is None


@pytest.mark.parametrize(("kind", "example"), UNREADABLE)
def test_a_value_the_scan_cannot_read_is_named_with_its_line(kind, example):
    cell, holds = example.unreadable
    cells = (*example.cells[:2], cell, *example.cells[2:])
    with pytest.raises(DataError) as error:
        kind.accumulator(SCHEMA_OF_EVERY_KIND).add(_block(cells, column="weight"))
    assert str(error.value) == f"data.csv, line 4: column 'weight' has {holds}"


@pytest.mark.parametrize(("kind", "example"), KIND_EXAMPLES)
def test_the_pipeline_decodes_the_cells_to_the_serving_dtype(kind, example):
    import tensorflow as tf  # noqa: PLC0415 -- only this test needs it

    decoded = kind.decode(tf.constant(example.cells))
    assert decoded.dtype == kind.dtype
    values = [v.decode() if isinstance(v, bytes) else v for v in decoded.numpy().tolist()]
    assert values == pytest.approx(list(example.decoded), nan_ok=True)


@pytest.mark.parametrize(("kind", "example"), KIND_EXAMPLES)
def test_prepare_accepts_the_present_values_and_refuses_others(kind, example):
    present = [cell for cell in example.cells if cell not in MISSING_VALUES]
    assert all(kind.accepts_cell(cell) for cell in present)
    assert not any(kind.accepts_cell(cell) for cell in example.refused_cells)


@pytest.mark.parametrize(("kind", "example"), KIND_EXAMPLES)
def test_an_instance_is_written_from_the_cells_and_passes_its_check(kind, example):
    """A prepared cell is a value or "NA" (workflow/data/clean.py writes every missing token so)."""
    written = tuple(
        kind.instance_value(None if cell in MISSING_VALUES else cell) for cell in example.cells
    )
    assert written == example.instance_values
    assert all(kind.accepts_instance(value) for value in written)
    assert all(kind.accepts_instance(value) for value in example.accepted_instances)
    assert not any(kind.accepts_instance(value) for value in example.refused_instances)
    assert kind.accepts_instance(None) == (kind.instance_missing == "null")


@pytest.mark.parametrize(("kind", "example"), KIND_EXAMPLES)
def test_make_schema_proposes_the_column_as_its_kind(kind, example):
    column = ColumnStats("c", MISSING_VALUES, max_distinct=100)
    for cell in example.cells:
        column.add(cell)
    assert recognize(column) is kind
    assert column.kind == kind.name
