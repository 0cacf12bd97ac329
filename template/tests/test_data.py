"""Data preparation (workflow/data/): cleaning, the hash split, describe and the schema proposal.

The data are synthetic, with a schema of their own, so that these tests hold whatever dataset the
project was generated for.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.csv_reader import MISSING_VALUES
from trainer.features import SCHEMA
from trainer.kinds import KINDS
from trainer.schema import Schema
from workflow.data import cli
from workflow.data.clean import MISSING
from workflow.data.describe import describe
from workflow.data.picking import INSTANCE_COUNT
from workflow.data.proposal import proposal_text, propose_schema
from workflow.data.settings import SPLITS, settings, split_percents
from workflow.data.split import Splitter

from conftest import run_module, synthetic_rows, write_csv

CLASSIFICATION = Schema(
    label="target", task_type="classification", numeric=("width", "depth"), categorical=("color",)
)
REGRESSION = Schema(
    label="target", task_type="regression", numeric=("width", "depth"), categorical=("color",)
)


def _split(source: Path, out: Path, *flags: str) -> Path:
    assert cli.main(["split", str(source), "--out-dir", str(out), *flags]) == 0
    return out


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()[1:]


def test_clean_drops_unlabelled_rows_and_writes_every_missing_value_as_na(tmp_path, capsys):
    source = tmp_path / "raw.csv"
    source.write_text(
        "target,width,color\nlow, 1.5 ,red\nNULL,2.0,blue\nmid,n/a,\n,3.0,green\nhigh,NaN,None\n"
    )
    out = tmp_path / "clean.csv"
    assert cli.main(["clean", str(source), "-o", str(out), "--label", "target"]) == 0
    assert out.read_text() == "target,width,color\nlow,1.5,red\nmid,NA,NA\nhigh,NA,NA\n"
    report = capsys.readouterr().out
    assert "5 rows read, 2 dropped (no 'target' value), 3 kept" in report
    assert "6 missing value(s) written as NA: target 2, width 2, color 2" in report
    assert "1 value(s) stripped of spaces: width 1" in report
    assert MISSING in MISSING_VALUES  # the trainer reads what clean writes as missing


def test_split_is_the_same_on_every_run_and_appending_never_moves_a_row(tmp_path):
    rows = synthetic_rows(CLASSIFICATION, 600, seed=1)
    flags = ("--train-fraction=0.7", "--eval-fraction=0.15", "--test-fraction=0.15")
    before = _split(write_csv(tmp_path / "before.csv", rows[:400]), tmp_path / "before", *flags)
    again = _split(write_csv(tmp_path / "again.csv", rows[:400]), tmp_path / "again", *flags)
    after = _split(write_csv(tmp_path / "after.csv", rows), tmp_path / "after", *flags)
    for name in SPLITS:
        assert (again / f"{name}.csv").read_bytes() == (before / f"{name}.csv").read_bytes()
        old = _lines(before / f"{name}.csv")
        assert _lines(after / f"{name}.csv")[: len(old)] == old, name


def test_fractions_hold_within_three_standard_deviations(tmp_path):
    rows = synthetic_rows(CLASSIFICATION, 2000, seed=2)
    out = _split(
        write_csv(tmp_path / "all.csv", rows),
        tmp_path / "out",
        "--train-fraction=0.7",
        "--eval-fraction=0.2",
        "--test-fraction=0.1",
    )
    for name, fraction in zip(SPLITS, (0.7, 0.2, 0.1), strict=True):
        n = len(_lines(out / f"{name}.csv"))
        assert abs(n - 2000 * fraction) <= 3 * math.sqrt(2000 * fraction * (1 - fraction)), name


def test_rows_sharing_a_key_stay_together(tmp_path):
    rows = synthetic_rows(CLASSIFICATION, 300, seed=3)
    for i, row in enumerate(rows):
        row["unused_note"] = f"group-{i % 40}"
    out = _split(write_csv(tmp_path / "all.csv", rows), tmp_path / "out", "--key", "unused_note")
    seen: dict[str, str] = {}
    for name in ("train", "eval"):
        header, *lines = (out / f"{name}.csv").read_text().splitlines()
        key_index = header.split(",").index("unused_note")
        for line in lines:
            assert seen.setdefault(line.split(",")[key_index], name) == name


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--eval-fraction=0.1"], "the split fractions sum to 0.9"),
        (["--train-fraction=0.755", "--eval-fraction=0.245"], "must be a whole percentage"),
    ],
)
def test_bad_fractions_are_refused(tmp_path, capsys, flags, message):
    source = write_csv(tmp_path / "all.csv", synthetic_rows(CLASSIFICATION, 20, seed=4))
    assert cli.main(["split", str(source), "--out-dir", str(tmp_path / "out"), *flags]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_describe_counts_values_ranges_and_categories(tmp_path):
    source = tmp_path / "small.csv"
    source.write_text("size,color\n1,red\n3,red\nNA,blue\n2.5,\n")
    description = describe(source)
    size, color = description.columns
    assert (description.rows, size.kind, size.count, size.missing) == (4, "numeric", 3, 1)
    assert (size.minimum, size.maximum) == (1, 3)
    assert size.summary(top=5) == "min 1, max 3, mean 2.167"
    assert (color.kind, color.count, color.missing, color.distinct) == ("categorical", 3, 1, 2)
    assert color.summary(top=1) == "red 2, ..."
    assert "size" in description.table() and "red 2, blue 1" in description.table()


def test_describe_calls_numeric_only_what_prepare_reads_as_a_number(tmp_path):
    """Python's float() takes "1_000" and "inf"; prepare and the trainer do not, so neither is a
    number to `make schema`."""
    source = tmp_path / "written.csv"
    source.write_text("count,limit,size\n1_000,inf,1\n2,3,2e3\n")
    count, limit, size = describe(source).columns
    assert (count.kind, limit.kind, size.kind) == ("categorical", "categorical", "numeric")


@pytest.mark.parametrize("schema", [CLASSIFICATION, REGRESSION], ids=lambda s: s.task_type)
def test_the_schema_proposal_finds_the_features_and_leaves_the_note_out(tmp_path, schema):
    source = write_csv(tmp_path / "all.csv", synthetic_rows(schema, 400, seed=5))
    proposal = propose_schema(describe(source), schema.label, SCHEMA)
    assert proposal.task_type == schema.task_type
    assert proposal.features == {kind.name: list(schema.of(kind)) for kind in KINDS}
    assert list(proposal.left_out) == ["unused_note"]
    command = proposal.copier_command(".venv/bin/copier")
    assert command.startswith(".venv/bin/copier update --trust --defaults ")
    assert command.endswith(
        "--data 'numeric_features=[width, depth]' --data 'datetime_features=[]' "
        "--data 'categorical_features=[color]'"
    )


def test_iso_dates_are_proposed_as_datetime_features_and_dates_written_otherwise_left_out(
    tmp_path,
):
    dated = Schema(label="target", task_type="regression", datetime=("sold_on",))
    rows = synthetic_rows(dated, 200, seed=8)
    for i, row in enumerate(rows):
        row["report_date"] = f"{1 + i % 28:02d}/05/2024"  # a date all the same, by its name
    description = describe(write_csv(tmp_path / "dated.csv", rows))
    assert description.column("sold_on").kind == "datetime"
    days = sorted(row["sold_on"][:10] for row in rows if row["sold_on"] not in MISSING_VALUES)
    assert description.column("sold_on").summary(top=5) == f"from {days[0]} to {days[-1]}"
    proposal = propose_schema(description, "target", SCHEMA)
    assert proposal.features == {"numeric": [], "datetime": ["sold_on"], "categorical": []}
    assert proposal.left_out["report_date"] == (
        "a date or time (when a row was recorded, not what it is), not in ISO 8601 "
        "(YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]), which a datetime feature takes"
    )


def _with_models(rows: list[dict[str, str]], models: int) -> list[dict[str, str]]:
    """A name column, as a cars dataset's model names: `models` distinct values."""
    for i, row in enumerate(rows):
        row["model"] = f"model {i % models}"
    return rows


@pytest.mark.parametrize(
    ("rows", "models", "warned"),
    [(400, 311, True), (2000, 150, True), (2000, 100, False)],
    ids=["most rows distinct", "over the cap", "at the cap"],
)
def test_a_label_with_too_many_classes_draws_a_warning(tmp_path, rows, models, warned):
    source = write_csv(
        tmp_path / "cars.csv", _with_models(synthetic_rows(CLASSIFICATION, rows, seed=12), models)
    )
    proposal = propose_schema(describe(source), "model", SCHEMA)
    assert proposal.task_type == "classification"
    warning = (
        f"warning: the label 'model' has {models} classes in {rows} rows: too few rows per class "
        "to learn them, as for an identifier or free text; choose another column as the label "
        "(LABEL=...): one with fewer classes, or a number to predict by regression"
    )
    assert (warning in proposal_text(proposal, str(source), None, "copier")) == warned


def test_a_label_with_a_single_class_draws_a_warning_in_the_proposal(tmp_path):
    rows = [row | {"target": "low"} for row in synthetic_rows(CLASSIFICATION, 100, seed=14)]
    proposal = propose_schema(describe(write_csv(tmp_path / "one.csv", rows)), "target", SCHEMA)
    assert proposal.warnings == [
        "the label 'target' has a single class: a classifier needs at least two, and "
        "`make prepare` and training refuse it; choose another label (LABEL=...)"
    ]


# A project that hashes a category of more than 1000 values, the default max_vocabulary.
CAPPED = dataclasses.replace(CLASSIFICATION, max_vocabulary=1000)


def _with_many_values(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Columns of many values: a customer's number (four rows each), a model name of 1,500
    values, a number per row named as an id, a comment of many words, and a store's number
    (three rows each, under the cap)."""
    for i, row in enumerate(rows):
        row["customer_id"] = str(100_000 + (i * 7919) % 1500)
        row["model"] = f"model {(i * 31) % 1500}"
        row["order_id"] = str(i)
        row["comment"] = f"the parcel came on day {i % 9} and was left at the door"
        row["store_id"] = f"S{i % 200}"
    return rows


def test_many_values_are_hashed_categories_unless_they_name_rows_or_are_free_text(tmp_path):
    source = write_csv(
        tmp_path / "orders.csv", _with_many_values(synthetic_rows(CLASSIFICATION, 6000, seed=13))
    )
    description = describe(source)
    assert description.column("customer_id").kind == "categorical"  # whole numbers all the same
    proposal = propose_schema(description, "target", CAPPED)
    assert proposal.features["categorical"] == ["color", "customer_id", "model", "store_id"]
    assert proposal.left_out == {
        "unused_note": "a different value in every row (an identifier?)",
        "order_id": "an identifier, a different value in every row",
        "comment": "free text (12.0 words a value on average, more than 4), not categories",
    }
    hashed = (
        "1500 distinct values, more than max_vocabulary 1000: hashed into the trainer's "
        "--hash-bins bins, not looked up in a vocabulary"
    )
    assert proposal.notes == {"customer_id": hashed, "model": hashed}
    text = proposal_text(proposal, str(source), None, "copier")
    assert f"  note                  model: {hashed}" in text.splitlines()
    # Hashing off (max_vocabulary 0): the same features, none of them noted.
    never = propose_schema(description, "target", dataclasses.replace(CAPPED, max_vocabulary=0))
    assert (never.features, never.notes) == (proposal.features, {})


def test_an_identifier_repeated_past_the_distinct_values_counted_is_still_a_category(tmp_path):
    """Past max_distinct values (10000) the count stops; a value of those counted that comes
    back still tells a repeated id from a column of row ids."""
    rows = synthetic_rows(CLASSIFICATION, 24_000, seed=16)
    for i, row in enumerate(rows):
        row["customer_id"] = f"C{(i * 7919) % 12_000}"
        row["order_id"] = f"O{i}"
    proposal = propose_schema(describe(write_csv(tmp_path / "big.csv", rows)), "target", CAPPED)
    assert "customer_id" in proposal.features["categorical"]
    assert proposal.notes["customer_id"].startswith(
        "more than 10000 distinct values, more than max_vocabulary 1000: hashed"
    )
    assert proposal.left_out["order_id"] == "an identifier, a different value in every row"


def test_the_split_fractions_help_gives_the_unit_and_the_default(capsys):
    with pytest.raises(SystemExit):
        cli.main(["prepare", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # unwrapped, whatever the width
    defaults = cli.build_parser().parse_args(["prepare", "raw.csv"])
    for name in SPLITS:
        default = getattr(defaults, f"{name}_fraction")
        assert (
            f"share of rows in {name}.csv, from 0 to 1 in steps of 0.01 (default: {default}, "
            f"config/data.yaml's split.{name}_fraction)"
        ) in help_text


def test_the_printed_copier_command_runs_as_printed_once_the_tree_is_committed(tmp_path):
    """copier lives in the project's virtualenv, not on PATH: the line names it by its path."""
    source = write_csv(tmp_path / "all.csv", synthetic_rows(CLASSIFICATION, 100, seed=6))
    project = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "workflow.data", "schema", str(source), "--label", "target"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    [command] = [line.split() for line in result.stdout.splitlines() if " update --trust" in line]
    copier = project / command[0]  # as the shell finds a path: from the project's root
    assert copier.is_file() and os.access(copier, os.X_OK), command[0]
    assert "Commit your work first" in result.stdout


def _features_of(row: dict[str, str]) -> dict[str, object]:
    """A prepared row's features as a serving instance holds them."""
    return {
        name: (None if row[name] == MISSING else float(row[name]))
        if name in SCHEMA.numeric
        else ("" if row[name] == MISSING else row[name])
        for name in SCHEMA.features
    }


def test_prepare_writes_the_first_eval_row_of_each_label_as_instances(tmp_path):
    rows = synthetic_rows(SCHEMA, 300, seed=7)
    # A missing value of each type, as pandas writes them, in all but the last 50 rows: there,
    # training learns the columns' statistics (a column with no value is refused).
    for row in rows[:250]:
        row.update(
            dict.fromkeys(SCHEMA.numeric[:1], "NaN") | dict.fromkeys(SCHEMA.categorical[:1], "")
        )
    source = write_csv(tmp_path / "raw.csv", rows)
    out = tmp_path / "out"
    assert cli.main(["prepare", str(source), "--out-dir", str(out)]) == 0

    instances = [json.loads(line) for line in (out / "instances.json").read_text().splitlines()]
    with (out / "eval.csv").open() as f:
        expected = []
        for row in csv.DictReader(f):
            if row[SCHEMA.label] not in (e[SCHEMA.label] for e in expected):
                expected.append(row)
    assert instances == [_features_of(row) for row in expected[:INSTANCE_COUNT]]
    # Every feature key, in the file's column order; a missing number is null, a missing
    # category "" (the serving signature refuses a key left out, and null for a string).
    header = list(rows[0])
    assert all(list(i) == [c for c in header if c in SCHEMA.features] for i in instances)
    assert all(i[name] is None for i in instances for name in SCHEMA.numeric[:1])
    assert all(i[name] == "" for i in instances for name in SCHEMA.categorical[:1])


# ------------------------------------------------------------- prepare refuses, and loses nothing


def _contents(directory: Path) -> dict[str, bytes]:
    """Every file in `directory`, hidden ones included."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _refused(tmp_path: Path, capsys, rows: list[dict[str, str]] | str, *flags: str) -> str:
    """Prepares good data, then `rows` (or a CSV text) over it: prepare must refuse, with one
    error line, and leave the split, instances and stats file as they were. Returns the line."""
    out = tmp_path / "out"
    good = write_csv(tmp_path / "good.csv", synthetic_rows(SCHEMA, 300, seed=20))
    assert cli.main(["prepare", str(good), "--out-dir", str(out)]) == 0
    assert {"instances.json", "stats.json"} <= set(os.listdir(out))
    before = _contents(out)
    capsys.readouterr()
    raw = tmp_path / "raw.csv"
    if isinstance(rows, str):
        raw.write_text(rows)
    else:
        write_csv(raw, rows)
    assert cli.main(["prepare", str(raw), "--out-dir", str(out), *flags]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert _contents(out) == before
    return line


NUMBERS = SCHEMA.numeric or (() if SCHEMA.is_classification else (SCHEMA.label,))


def test_a_header_without_rows_is_refused(tmp_path, capsys):
    header = ",".join(["unused_note", *SCHEMA.columns])
    line = _refused(tmp_path, capsys, header + "\n")
    assert line == (
        f"error: {tmp_path}/raw.csv, line 1: a header and no data rows after it; add the rows "
        "to prepare"
    )


# A value that the first column of a kind refuses, and the kind's words for what it takes.
NOT_OF_ITS_KIND = [
    pytest.param(columns[0], value, words, id=kind)
    for kind, columns, value, words in (
        ("numeric", NUMBERS, "twelve", "a number"),
        (
            "datetime",
            SCHEMA.datetime,
            "05/31/2024",
            "an ISO 8601 date or date-time (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS])",
        ),
    )
    if columns
]


@pytest.mark.skipif(not NOT_OF_ITS_KIND, reason="the project reads no numeric or datetime column")
@pytest.mark.parametrize(("column", "value", "words"), NOT_OF_ITS_KIND)
def test_a_value_not_of_its_columns_kind_is_refused_by_its_raw_line(
    tmp_path, capsys, column, value, words
):
    rows = synthetic_rows(SCHEMA, 300, seed=21)
    rows[6][column] = value  # line 8: the header, then rows 0 to 6
    assert _refused(tmp_path, capsys, rows) == (
        f"error: {tmp_path}/raw.csv, line 8: column '{column}' has the value {value!r}, but "
        f"the project's schema reads '{column}' as {words}; correct the value (NA if it is "
        "missing), or apply the schema `make schema` proposes for this file"
    )


@pytest.mark.skipif(not SCHEMA.is_classification, reason="a regression has no classes")
def test_a_label_with_a_single_class_is_refused(tmp_path, capsys):
    rows = [row | {SCHEMA.label: "low"} for row in synthetic_rows(SCHEMA, 300, seed=22)]
    assert _refused(tmp_path, capsys, rows) == (
        f"error: {tmp_path}/raw.csv: the label '{SCHEMA.label}' has a single class ('low') in "
        "all 300 labelled rows: a classifier needs at least two; choose another label (make "
        "schema LABEL=...), or add rows of the other classes"
    )


@pytest.mark.skipif(not SCHEMA.is_classification, reason="a regression has no classes")
def test_an_evaluation_class_that_training_never_sees_is_refused_by_its_line(tmp_path, capsys):
    rows = [row for row in synthetic_rows(SCHEMA, 300, seed=23) if row[SCHEMA.label] != "high"]
    splitter = Splitter(split_percents(0.8, 0.2, 0.0))
    for i in range(1000):  # a row of a third class that the hash sends to eval.csv
        row = rows[0] | {"unused_note": f"rare {i}", SCHEMA.label: "high"}
        cleaned = [MISSING if v in settings().missing_tokens else v for v in row.values()]
        if splitter.split_of(cleaned) == "eval":
            break
    rows.append(row)
    assert _refused(tmp_path, capsys, rows) == (
        f"error: {tmp_path}/raw.csv, line {len(rows) + 1}: the label value 'high' falls in "
        "eval.csv but in no training row, and a model cannot learn a class it never sees; add "
        "rows of it, or leave them out"
    )


def test_a_declared_column_under_an_unusable_name_is_refused_with_the_rename(tmp_path, capsys):
    name = SCHEMA.features[0]
    unusable = f"{name[0]} {name[1:]}"
    rows = [
        {unusable if key == name else key: value for key, value in row.items()}
        for row in synthetic_rows(SCHEMA, 300, seed=24)
    ]
    line = _refused(tmp_path, capsys, rows)
    assert line.startswith(
        f"error: {tmp_path}/raw.csv: declared column(s) {name} missing from the header ("
    )
    assert line.endswith(f"); '{unusable}' is not a usable column name: rename it {name}")


def test_a_feature_without_any_value_is_refused(tmp_path, capsys):
    name = SCHEMA.features[0]
    rows = [row | {name: "NA"} for row in synthetic_rows(SCHEMA, 300, seed=25)]
    line = _refused(tmp_path, capsys, rows)
    assert line.startswith(f"error: {tmp_path}/raw.csv: column(s) {name} have no value in any")
    assert line.endswith(
        "training rows; fill them in, or leave them out of the features (apply the schema "
        "`make schema` proposes)"
    )


def test_a_row_without_a_key_is_refused_by_its_line(tmp_path, capsys):
    rows = synthetic_rows(SCHEMA, 300, seed=26)
    rows[9]["unused_note"] = ""
    assert _refused(tmp_path, capsys, rows, "--key", "unused_note") == (
        f"error: {tmp_path}/raw.csv, line 11: the key column 'unused_note' has no value; give "
        "every row a key, or split without --key"
    )


def test_data_lacking_the_projects_columns_is_refused(tmp_path, capsys):
    rows = synthetic_rows(SCHEMA, 300, seed=27)
    absent = SCHEMA.features[-1]
    for row in rows:
        del row[absent]
    line = _refused(tmp_path, capsys, rows)
    assert line.startswith(
        f"error: {tmp_path}/raw.csv: declared column(s) {absent} missing from the header ("
    )
    assert line.endswith(
        f"apply the schema that `make schema RAW_DATA={tmp_path}/raw.csv` proposes for this "
        "file (copier update), or rename the columns as trainer/features.py declares them"
    )


@pytest.mark.skipif(not SCHEMA.categorical, reason="the project reads no categorical column")
def test_a_categorical_feature_with_a_value_per_row_draws_a_warning(tmp_path, capsys):
    name = SCHEMA.categorical[0]
    rows = [row | {name: f"value {i}"} for i, row in enumerate(synthetic_rows(SCHEMA, 300, 28))]
    out = tmp_path / "out"
    assert (
        cli.main(["prepare", str(write_csv(tmp_path / "raw.csv", rows)), "--out-dir", str(out)])
        == 0
    )
    stats = json.loads((out / "stats.json").read_text())["train"]
    warnings = [line for line in capsys.readouterr().out.splitlines() if "warning" in line]
    if name in stats["hashed"]:  # more values than the project's max_vocabulary: the remedy
        assert (warnings, stats["hashed"][name]) == ([], stats["rows"])
        return
    [warning] = warnings
    assert warning == (
        f"warning: {out}/train.csv: the categorical feature '{name}' has "
        f"{len(stats['vocabularies'][name])} distinct values in {stats['rows']} training rows: "
        f"too many to learn from (more than {stats['rows'] // 2}); leave it out of "
        "categorical_features (make schema proposes the features) unless you know it helps"
    )


def test_a_refusal_removes_the_directory_it_made(tmp_path):
    source = tmp_path / "header_only.csv"
    source.write_text(",".join(SCHEMA.columns) + "\n")
    out = tmp_path / "new" / "data"
    assert cli.main(["prepare", str(source), "--out-dir", str(out)]) == 1
    assert list(tmp_path.iterdir()) == [source]


def test_temporary_files_of_a_dead_run_go_and_a_live_runs_stay(tmp_path):
    """A killed prepare leaves its temporary files (TEMP_NAME): hidden, so that no glob of the
    split picks them up. The next run removes those of processes that are gone."""
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    left = out / f".train.csv.prepare-{dead.stdout.strip()}"
    live = out / f".train.csv.prepare-{os.getppid()}"
    for path in (left, live):
        path.write_text("partial\n")
    source = write_csv(tmp_path / "raw.csv", synthetic_rows(SCHEMA, 100, seed=29))
    assert cli.main(["prepare", str(source), "--out-dir", str(out)]) == 0
    assert not left.exists()
    assert live.exists()
    assert sorted(os.listdir(out)) == sorted(
        [live.name, "eval.csv", "instances.json", "stats.json", "train.csv"]
    )


def test_prepare_reads_a_spreadsheets_byte_order_mark(tmp_path):
    rows = synthetic_rows(SCHEMA, 100, seed=8)
    plain = write_csv(tmp_path / "plain.csv", rows, [SCHEMA.label, *SCHEMA.features])
    marked = tmp_path / "marked.csv"
    marked.write_bytes(codecs.BOM_UTF8 + plain.read_bytes())
    for source in (plain, marked):
        assert cli.main(["prepare", str(source), "--out-dir", str(tmp_path / source.stem)]) == 0
    for name in ("train.csv", "eval.csv", "instances.json"):
        assert (tmp_path / "marked" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()


def test_the_command_line_starts_without_tensorflow_and_reports_bad_input(tmp_path):
    source = tmp_path / "no_header.csv"
    source.write_text("1.5,red,low\n")
    code = (
        "import sys\n"
        "from workflow.data import cli\n"
        "try:\n"
        f"    sys.exit(cli.main(['describe', {str(source)!r}]))\n"
        "finally:\n"
        "    assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {source}: the first line looks like data, not a header of column names "
        "('1.5' is not a column name); add a header row"
    )


# ------------------------------------------------------------------ the team's config/data.yaml


def _project_copy(tmp_path: Path, edit) -> Path:
    """The modules `workflow.data` runs, and config/data.yaml as `edit(text)` makes it."""
    project = Path(__file__).resolve().parent.parent
    copy = tmp_path / "project"
    for name in ("trainer", "workflow"):
        shutil.copytree(project / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "config").mkdir()
    (copy / "config/data.yaml").write_text(edit((project / "config/data.yaml").read_text()))
    return copy


def _data_command(project: Path, *args: str) -> subprocess.CompletedProcess:
    return run_module("workflow.data", *args, cwd=project)


def test_a_missing_token_added_to_the_config_is_read_as_missing(tmp_path):
    project = _project_copy(tmp_path, lambda text: text.replace('"n/a",', '"n/a", "?", "-",'))
    source = tmp_path / "raw.csv"
    source.write_text("target,width,color\nlow,?,red\n?,2.0,blue\nmid,1.5,-\n")
    result = _data_command(project, "clean", str(source), "-o", "clean.csv", "--label", "target")
    assert result.returncode == 0, result.stderr
    assert (project / "clean.csv").read_text() == "target,width,color\nlow,NA,red\nmid,1.5,NA\n"
    assert "3 missing value(s) written as NA: target 1, width 1, color 1" in result.stdout


def test_the_split_settings_of_the_config_are_the_defaults(tmp_path):
    def edit(text: str) -> str:
        for old, new in (
            ("key: null", "key: unused_note"),
            ("train_fraction: 0.8", "train_fraction: 0.6"),
            ("test_fraction: 0.0", "test_fraction: 0.2"),
        ):
            text = text.replace(old, new)
        return text

    project = _project_copy(tmp_path, edit)
    rows = synthetic_rows(CLASSIFICATION, 300, seed=30)
    for i, row in enumerate(rows):
        row["unused_note"] = f"group-{i % 30}"
    source = write_csv(tmp_path / "all.csv", rows)
    result = _data_command(project, "split", str(source), "--out-dir", "out")
    assert result.returncode == 0, result.stderr
    seen: dict[str, str] = {}
    for name in SPLITS:  # a test.csv: the config's test_fraction; groups stay together
        header, *lines = (project / "out" / f"{name}.csv").read_text().splitlines()
        key_index = header.split(",").index("unused_note")
        for line in lines:
            assert seen.setdefault(line.split(",")[key_index], name) == name


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda text: text.replace("max_distinct: 10000", "max_distinct: many"),
            "error: config/data.yaml: 'schema_proposal.max_distinct' must be a whole number "
            'above 0, not "many"',
        ),
        (
            lambda text: text.replace("max_words: 4", "max_words: 0"),
            "error: config/data.yaml: 'schema_proposal.max_words' must be a number above 0, not 0",
        ),
        (
            lambda text: text.replace('"NA", "NULL"', '"NA", NULL'),
            "error: config/data.yaml: 'missing_tokens' must be a list of quoted strings, not [",
        ),
        (
            lambda text: text.replace("eval_fraction: 0.2", "eval_fraction: 0.25"),
            "error: config/data.yaml: the split fractions sum to 1.05; they must sum to 1",
        ),
        (
            lambda text: text.replace("  key: null", "  key: null\n  seed: 3"),
            "error: config/data.yaml: no setting 'split.seed' (the settings: split.key, "
            "split.train_fraction, split.eval_fraction, split.test_fraction)",
        ),
        (
            lambda text: text.replace("split:", "split: [", 1),
            "error: config/data.yaml: not valid YAML (",
        ),
    ],
    ids=[
        "not-a-number",
        "no-words",
        "unquoted-null",
        "fractions-sum",
        "unknown-setting",
        "not-yaml",
    ],
)
def test_an_invalid_setting_is_one_error_line_and_writes_nothing(tmp_path, edit, message):
    project = _project_copy(tmp_path, edit)
    source = write_csv(tmp_path / "raw.csv", synthetic_rows(SCHEMA, 100, seed=31))
    result = _data_command(project, "prepare", str(source), "--out-dir", "out")
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(message)
    assert not (project / "out").exists()


def test_a_quoted_value_across_lines_is_refused_by_its_line(tmp_path, capsys):
    """The trainer reads a row per line: a line break inside a quoted value would split it."""
    header = ",".join(["unused_note", *SCHEMA.columns])
    good = [",".join(["x", *row]) for row in _plain_rows(3)]
    text = "\n".join([header, *good[:2], '"a note', 'over two lines"' + good[2][1:]]) + "\n"
    line = _refused(tmp_path, capsys, text)
    assert line == (
        f"error: {tmp_path}/raw.csv, line 4: a quoted value does not end on its line, but the "
        "trainer reads a row per line; close the quote, or remove the line break inside it"
    )


def _plain_rows(n: int) -> list[list[str]]:
    return [[row[c] for c in SCHEMA.columns] for row in synthetic_rows(SCHEMA, n, seed=32)]
