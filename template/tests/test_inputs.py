"""Reading CSV files: bad data fails before training, with the file and column named."""

from __future__ import annotations

import codecs
import dataclasses
import logging
from pathlib import Path

import pytest

from trainer import inputs
from trainer.features import SCHEMA
from workflow import split_stats

from conftest import run_trainer, synthetic_rows, the_error_line, write_csv

PROJECT = Path(__file__).resolve().parent.parent


def _train_on(tmp_path, train_file, eval_file=None):
    from trainer import model  # noqa: PLC0415
    from trainer.hparams import HParams  # noqa: PLC0415

    return model.train_and_evaluate(
        SCHEMA,
        [str(train_file)],
        [str(eval_file or train_file)],
        HParams(num_epochs=1),
        model_dir=str(tmp_path / "model"),
        checkpoint_dir=str(tmp_path / "checkpoints"),
        tensorboard_dir=str(tmp_path / "logs"),
        metrics_path=str(tmp_path / "metrics.json"),
    )


def test_a_missing_declared_column_is_named(tmp_path):
    rows = synthetic_rows(SCHEMA, 20, seed=3)
    absent = SCHEMA.features[-1]
    columns = [c for c in rows[0] if c != absent]
    path = write_csv(tmp_path / "train.csv", rows, columns)
    with pytest.raises(
        inputs.DataError, match=rf"train\.csv: declared column\(s\) {absent} missing"
    ):
        _train_on(tmp_path, path)


def test_an_empty_file_is_named(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(inputs.DataError, match=r"empty\.csv: the file is empty"):
        _train_on(tmp_path, path)


def test_a_header_without_rows_is_refused(tmp_path):
    path = tmp_path / "header_only.csv"
    path.write_text(",".join(SCHEMA.columns) + "\n")
    with pytest.raises(inputs.DataError, match="no data rows"):
        _train_on(tmp_path, path)


def test_a_glob_matching_nothing_is_named(tmp_path):
    with pytest.raises(inputs.DataError, match=r"nothing-\*\.csv: no such file"):
        _train_on(tmp_path, tmp_path / "nothing-*.csv")


def _first_batch(path: Path, classes: list[str]) -> tuple[dict, list]:
    data = inputs.make_dataset([str(path)], SCHEMA, classes, batch_size=40, shuffle=False)
    features, label = next(iter(data))
    return {k: v.numpy().tolist() for k, v in features.items()}, label.numpy().tolist()


# A value of each kind that the scan cannot read, in the first column of that kind, and what its
# error says the cell holds.
UNREADABLE = [
    pytest.param(columns[0], value, holds, id=kind)
    for kind, columns, value, holds in (
        ("numeric", SCHEMA.numeric, "twelve", "the non-numeric value 'twelve'"),
        (
            "datetime",
            SCHEMA.datetime,
            "05/31/2024",
            "the value '05/31/2024', not an ISO 8601 date or date-time (YYYY-MM-DD or "
            "YYYY-MM-DDTHH:MM[:SS])",
        ),
    )
    if columns
]


@pytest.mark.skipif(not UNREADABLE, reason="the schema has no numeric or datetime feature")
@pytest.mark.parametrize(("column", "value", "holds"), UNREADABLE)
def test_a_value_its_kind_cannot_read_is_named_by_its_file_and_line(tmp_path, column, value, holds):
    good = write_csv(tmp_path / "good.csv", synthetic_rows(SCHEMA, 30, seed=3))
    rows = synthetic_rows(SCHEMA, 30, seed=4)
    rows[7][column] = value
    path = write_csv(tmp_path / "train.csv", rows)
    with pytest.raises(inputs.DataError) as error:
        inputs.scan([str(good), str(path)], SCHEMA)  # lines count from each file's start
    assert str(error.value) == f"{path}, line 9: column '{column}' has {holds}"


@pytest.mark.parametrize(("change", "width"), [("extra", 1), ("missing", -1)])
def test_a_row_with_more_or_fewer_fields_than_the_header_is_named_by_its_line(
    tmp_path, change, width
):
    path = write_csv(tmp_path / "train.csv", synthetic_rows(SCHEMA, 30, seed=11))
    header, *lines = path.read_text().splitlines()
    columns = len(header.split(","))
    lines[7] = lines[7] + ",surplus" if change == "extra" else lines[7].rsplit(",", 1)[0]
    lines.insert(2, "")  # a blank line still counts: the row is then on line 10
    path.write_text("\n".join([header, *lines]) + "\n")
    with pytest.raises(
        inputs.DataError,
        match=rf"train\.csv, line 10: {columns + width} fields, "
        rf"but the header has {columns} columns$",
    ):
        _train_on(tmp_path, path)


def _broken(lines: list[str], how: str) -> list[str]:
    header, *rows = lines
    if how == "a-row-too-wide":
        rows[5] += ",surplus"
    elif how == "a-quote-left-open":
        rows[5] = '"' + rows[5]
    elif how == "a-name-twice":
        header += f",{header.split(',')[0]}"
        rows = [row + ",x" for row in rows]
    elif how == "a-carriage-return":
        rows[5] += "\r" + rows[6]
    elif how == "a-number-as-a-name":
        header = header.replace(SCHEMA.label, "2024")
    return [header, *rows]


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("a-row-too-wide", r"train\.csv, line 7: \d+ fields, but the header has \d+ columns$"),
        ("a-quote-left-open", r"train\.csv, line 7: a quoted value does not end on its line"),
        ("a-carriage-return", r"train\.csv, line 7: a carriage return inside the line"),
        ("a-name-twice", r"train\.csv: the header names column\(s\) \w+ twice$"),
        ("a-number-as-a-name", r"train\.csv: the first line looks like data.*'2024'"),
    ],
)
def test_the_trainer_and_the_workstation_refuse_a_file_in_the_same_words(tmp_path, how, message):
    """One reader (trainer/csv_reader.py): TensorFlow decodes the trainer's rows, but the checks
    and the messages are the workstation's, which `make prepare` and the stats file use."""
    path = write_csv(tmp_path / "train.csv", synthetic_rows(SCHEMA, 30, seed=13))
    path.write_text("\n".join(_broken(path.read_text().splitlines(), how)) + "\n")
    with pytest.raises(inputs.DataError, match=message) as trainer:
        inputs.scan([str(path)], SCHEMA)
    with pytest.raises(inputs.DataError) as workstation:
        split_stats.scan([str(path)], SCHEMA)
    assert str(workstation.value) == str(trainer.value)


def test_a_spreadsheets_byte_order_mark_is_no_part_of_the_data(tmp_path):
    """A spreadsheet's "CSV UTF-8" starts with a byte-order mark. The label comes first, so that
    the mark would stick to a declared column's name, and the first row is where it could leak."""
    rows = synthetic_rows(SCHEMA, 40, seed=12)
    plain = write_csv(tmp_path / "plain.csv", rows, [SCHEMA.label, *SCHEMA.features])
    marked = tmp_path / "marked.csv"
    marked.write_bytes(codecs.BOM_UTF8 + plain.read_bytes())
    assert inputs.read_header(str(marked), SCHEMA) == [SCHEMA.label, *SCHEMA.features]
    stats = inputs.scan([str(plain)], SCHEMA)
    assert inputs.scan([str(marked)], SCHEMA) == stats
    # repr: NaN == NaN
    assert repr(_first_batch(marked, stats.classes)) == repr(_first_batch(plain, stats.classes))


@pytest.mark.skipif(not SCHEMA.is_classification, reason="regression labels have no classes")
def test_an_eval_label_unseen_in_training_is_named(tmp_path):
    train = write_csv(tmp_path / "train.csv", synthetic_rows(SCHEMA, 60, seed=5))
    eval_rows = synthetic_rows(SCHEMA, 20, seed=6)
    eval_rows[4][SCHEMA.label] = "a-new-class"
    eval_file = write_csv(tmp_path / "eval.csv", eval_rows)
    with pytest.raises(
        inputs.DataError,
        match=r"eval\.csv: column '.*' has label value\(s\) 'a-new-class' never seen",
    ):
        _train_on(tmp_path, train, eval_file)


def test_rows_without_a_label_are_dropped_and_counted(tmp_path):
    rows = synthetic_rows(SCHEMA, 50, seed=7)
    for i in (0, 10, 20):
        rows[i][SCHEMA.label] = "NA" if i else ""
    path = write_csv(tmp_path / "train.csv", rows)
    stats = inputs.scan([str(path)], SCHEMA)
    assert stats.rows == 47
    assert stats.dropped_rows == 3
    examples = sum(
        int(label.shape[0])
        for _, label in inputs.make_dataset(
            [str(path)], SCHEMA, stats.classes, batch_size=8, shuffle=False
        )
    )
    assert examples == 47


def test_column_order_comes_from_each_files_header(tmp_path):
    rows = synthetic_rows(SCHEMA, 40, seed=8)
    forward = write_csv(tmp_path / "forward.csv", rows, list(rows[0]))
    backward = write_csv(tmp_path / "backward.csv", rows, list(reversed(list(rows[0]))))
    stats = inputs.scan([str(forward)], SCHEMA)
    assert inputs.scan([str(backward)], SCHEMA) == stats
    # repr: NaN == NaN
    assert repr(_first_batch(forward, stats.classes)) == repr(_first_batch(backward, stats.classes))


def test_a_missing_declared_column_names_the_fix_in_the_jobs_one_error_line(tmp_path):
    """After rendering for one's own columns, data/ still holds the sample's split."""
    rows = synthetic_rows(SCHEMA, 20, seed=13)
    absent = SCHEMA.features[-1]
    columns = [c for c in rows[0] if c != absent]
    path = write_csv(tmp_path / "train.csv", rows, columns)
    result = run_trainer(
        *("--train-files", str(path), "--eval-files", str(path), "--job-dir", str(tmp_path / "j")),
        cwd=PROJECT,
    )
    assert the_error_line(result) == (
        f"error: {path}: declared column(s) {absent} missing from the header "
        f"({', '.join(columns)}); if you rendered the project for your own data, run "
        "`make prepare RAW_DATA=<your csv>` (data/ holds the sample's split until you prepare "
        "your own), or apply the schema `make schema RAW_DATA=<your csv>` proposes for these files"
    )


@pytest.mark.skipif(not SCHEMA.is_classification, reason="a regression has no classes")
def test_a_label_with_a_single_class_is_refused_before_training(tmp_path):
    """Before, the job exported a model with accuracy 0.0 and loss 0.0."""
    rows = [row | {SCHEMA.label: "low"} for row in synthetic_rows(SCHEMA, 60, seed=14)]
    path = write_csv(tmp_path / "train.csv", rows)
    result = run_trainer(
        *("--train-files", str(path), "--eval-files", str(path), "--job-dir", str(tmp_path / "j")),
        cwd=PROJECT,
    )
    assert the_error_line(result) == (
        f"error: {path}: the label '{SCHEMA.label}' has a single class ('low') in all 60 "
        "training rows: a classifier needs at least two; choose another label, or add rows of "
        "the other classes"
    )
    assert not (tmp_path / "j").exists()


@pytest.mark.skipif(not SCHEMA.categorical, reason="the schema has no categorical feature")
def test_a_categorical_feature_with_very_many_values_draws_a_warning_unless_hashed(
    tmp_path, caplog
):
    name = SCHEMA.categorical[0]
    rows = synthetic_rows(SCHEMA, 3000, seed=15)
    for i, row in enumerate(rows):
        row[name] = f"value {i % 1500}"
    path = str(write_csv(tmp_path / "train.csv", rows))
    never_hashed = dataclasses.replace(SCHEMA, max_vocabulary=0)
    with caplog.at_level(logging.WARNING):
        stats = inputs.statistics(never_hashed, [path], [path])
    assert (
        f"{path}: the categorical feature '{name}' has {len(stats.vocabularies[name])} distinct "
        f"values in {stats.rows} training rows: too many to learn from (more than 1000); leave "
        "it out of categorical_features (make schema proposes the features) unless you know it "
        "helps"
    ) in caplog.messages
    caplog.clear()
    # Hashed (more values than max_vocabulary): the remedy, so no warning.
    with caplog.at_level(logging.WARNING):
        stats = inputs.statistics(dataclasses.replace(SCHEMA, max_vocabulary=1000), [path], [path])
    assert name not in stats.vocabularies
    assert stats.hashed == {name: 1500}
    assert not [m for m in caplog.messages if "categorical feature" in m]
    for row in rows:
        row[name] = "one value"
    path = str(write_csv(tmp_path / "train.csv", rows))
    with caplog.at_level(logging.WARNING):
        inputs.statistics(never_hashed, [path], [path])
    assert not [m for m in caplog.messages if "categorical feature" in m]
