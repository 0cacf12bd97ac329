"""Reading CSV files: bad data fails before training, with the file and column named."""

from __future__ import annotations

import pytest

from trainer import inputs
from trainer.features import SCHEMA

from conftest import synthetic_rows, write_csv


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


@pytest.mark.skipif(not SCHEMA.numeric, reason="the schema has no numeric feature")
def test_a_non_numeric_value_is_named(tmp_path):
    rows = synthetic_rows(SCHEMA, 30, seed=4)
    column = SCHEMA.numeric[0]
    rows[7][column] = "twelve"
    path = write_csv(tmp_path / "train.csv", rows)
    with pytest.raises(
        inputs.DataError,
        match=rf"column '{column}' has the non-numeric value 'twelve' \(data row 8\)",
    ):
        _train_on(tmp_path, path)


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

    def first_batch(path):
        data = inputs.make_dataset([str(path)], SCHEMA, stats.classes, batch_size=40, shuffle=False)
        features, label = next(iter(data))
        return {k: v.numpy().tolist() for k, v in features.items()}, label.numpy().tolist()

    assert repr(first_batch(forward)) == repr(first_batch(backward))  # repr: NaN == NaN
