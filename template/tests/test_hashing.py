"""Categories hashed past the schema's max_vocabulary (trainer/kinds/categorical.py): what the
statistics keep of them, how the model encodes them, the stats file that holds their counts, and
what reading an id with many rows per id is worth."""

from __future__ import annotations

import csv
import json
import logging
import random

import numpy as np
import pytest

from trainer.csv_reader import DataError
from trainer.hparams import HParams
from trainer.kinds.base import ColumnBlock
from trainer.kinds.categorical import CATEGORICAL
from trainer.schema import Schema
from trainer.stats import DataStats, StatsFile
from workflow import split_stats

from conftest import synthetic_rows, train_in, write_csv


def _schema(max_vocabulary: int) -> Schema:
    return Schema(
        label="target",
        task_type="regression",
        numeric=("width",),
        categorical=("color", "customer"),
        max_vocabulary=max_vocabulary,
    )


def _counted(cells: list[str], max_vocabulary: int) -> dict[str, object] | None:
    accumulator = CATEGORICAL.accumulator(_schema(max_vocabulary))
    values = np.array([cell.encode() for cell in cells], dtype=object)
    present = values != b"NA"
    rows = np.ones(len(cells), dtype=bool)
    accumulator.add(ColumnBlock("data.csv", "c", values, present, rows, np.arange(len(cells))))
    return accumulator.result()


def test_past_max_vocabulary_the_statistics_keep_the_distinct_count_not_the_values():
    cells = ["a", "b", "a", "NA", "c", "d", "b"]  # four distinct values, one missing
    assert _counted(cells, max_vocabulary=3) == {"hashed": 4}
    assert _counted(cells, max_vocabulary=4) == {"vocabularies": ["a", "b", "c", "d"]}
    assert _counted(cells, max_vocabulary=0) == {"vocabularies": ["a", "b", "c", "d"]}  # never


def _hashed_blocks(values: list[str], hp: HParams) -> tuple[np.ndarray, np.ndarray]:
    """The one-hot and embedded encodings of a hashed column of raw strings."""
    import tensorflow as tf  # noqa: PLC0415 -- only these tests need it

    stats = DataStats(rows=10, hashed={"customer": 5000})
    features = {"customer": tf.constant(values)}
    [one_hot] = CATEGORICAL.one_hot(("customer",), stats, features, hp)
    [embedded] = CATEGORICAL.embedded(("customer",), stats, features, hp)
    return np.asarray(one_hot), np.asarray(embedded)


def test_a_hashed_column_is_one_hot_over_its_bins_and_takes_any_string():
    hp = HParams(hash_bins=64, embedding_dim=3)
    values = ["C17", "C17", "a value never seen", "", "C18"]
    one_hot, embedded = _hashed_blocks(values, hp)
    assert one_hot.shape == (5, 64)
    assert embedded.shape == (5, 3)
    assert (one_hot.sum(axis=1) == 1).all()
    bins = one_hot.argmax(axis=1)
    assert bins[0] == bins[1]  # a value has its bin, run after run (FarmHash, no salt)
    assert bins[3] == 0 and 0 not in bins[[0, 2, 4]]  # missing ("") has a bin of its own
    assert (embedded[0] == embedded[1]).all()
    assert _hashed_blocks(values, hp)[0].argmax(axis=1).tolist() == bins.tolist()


def test_the_model_logs_each_hashed_column_with_its_counts(caplog):
    from trainer import model  # noqa: PLC0415

    stats = DataStats(
        rows=900,
        mean={"width": 1.0, "target": 0.0},
        variance={"width": 1.0, "target": 1.0},
        vocabularies={"color": ["red", "blue"]},
        hashed={"customer": 300},
    )
    with caplog.at_level(logging.INFO):
        model.build_model(
            _schema(100), stats, HParams(model_type="wide_deep", hash_bins=512, numeric_buckets=0)
        )
    assert (
        caplog.messages.count(
            "The categorical feature 'customer' has 300 distinct values in 900 training rows, more "
            "than max_vocabulary 100: hashed into 512 bins (--hash-bins)"
        )
        == 1
    )
    assert not [message for message in caplog.messages if "'color'" in message]


def _files(tmp_path, customers: int) -> tuple[list[str], list[str]]:
    """Training and evaluation rows with a customer id of `customers` values."""
    paths = []
    for name, seed in (("train", 1), ("eval", 2)):
        rows = synthetic_rows(_schema(0), 300, seed)
        for i, row in enumerate(rows):
            row["customer"] = f"C{(i * 7) % customers}"
        paths.append([str(write_csv(tmp_path / f"{name}.csv", rows))])
    return paths[0], paths[1]


def test_the_stats_file_holds_the_count_of_a_hashed_column_and_reads_back(tmp_path):
    train, eval_ = _files(tmp_path, customers=150)
    stats_file = split_stats.describe(train, eval_, _schema(100))
    content = json.loads(stats_file.to_json())
    assert content["schema"]["max_vocabulary"] == 100
    assert content["train"]["hashed"] == {"customer": 150}
    assert list(content["train"]["vocabularies"]) == ["color"]
    assert StatsFile.from_json(stats_file.to_json(), "stats.json") == stats_file
    unhashed = json.loads(split_stats.describe(train, eval_, _schema(0)).to_json())
    assert unhashed["train"]["hashed"] == {}
    assert len(unhashed["train"]["vocabularies"]["customer"]) == 150


def test_a_stats_file_written_under_another_max_vocabulary_is_refused(tmp_path):
    train, eval_ = _files(tmp_path, customers=150)
    stats_file = split_stats.describe(train, eval_, _schema(100))
    with pytest.raises(DataError) as refusal:
        stats_file.check_schema(_schema(1000), "data/stats.json")
    assert str(refusal.value) == (
        "data/stats.json: written for another schema (label 'target', features width, color, "
        "customer, max_vocabulary 100), but the trainer reads label 'target', features width, "
        "color, customer, max_vocabulary 1000; run `make prepare` again"
    )


# --------------------------------------------------------------------- what the hashed id is worth

# The held-out error of a model that reads a hashed customer id, against the same model without
# it (before, `make schema` left such a column out): the id must cut the error by 60% at least.
# Measured: 5.5 against 19.7, a cut of 72%.
ID_MARGIN = 0.4
CUSTOMERS = 1000


def _orders_table(path, rows_per_customer: int, seed: int) -> None:
    """Order values by customer: each customer's own level (the signal) plus a number that
    carries a little of it, and noise; CUSTOMERS customers, drawn at random in each file."""
    levels = random.Random(0)
    level = [levels.gauss(0, 1) for _ in range(CUSTOMERS)]
    rng = random.Random(seed)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["customer_id", "basket", "value"])
        for _ in range(rows_per_customer * CUSTOMERS):
            customer = rng.randrange(CUSTOMERS)
            basket = rng.gauss(10, 2)
            value = 100 + 20 * level[customer] + 2 * (basket - 10) + rng.gauss(0, 2)
            writer.writerow([f"C{customer:05d}", f"{basket:.2f}", f"{value:.3f}"])


def _held_out_rmse(schema, data, job_dir) -> float:
    hp = HParams(
        model_type="dnn",
        num_epochs=4,
        batch_size=32,
        hash_bins=8192,  # a bin for most customers: few share one (the default)
        early_stopping_patience=0,
    )
    return train_in(job_dir, data, hp, schema).metrics["rmse"]


def test_a_hashed_id_cuts_the_error_on_a_label_that_depends_on_it_by_60_percent(tmp_path):
    """The same deep model with and without the id, on held-out orders of the same customers
    (about ten orders each to learn from)."""
    for name, rows_per_customer, seed in (("train.csv", 10, 1), ("eval.csv", 1, 2)):
        _orders_table(tmp_path / name, rows_per_customer, seed)
    with_id = Schema(
        label="value",
        task_type="regression",
        numeric=("basket",),
        categorical=("customer_id",),
        max_vocabulary=100,
    )
    without = Schema(label="value", task_type="regression", numeric=("basket",))
    error_with = _held_out_rmse(with_id, tmp_path, tmp_path / "with")
    error_without = _held_out_rmse(without, tmp_path, tmp_path / "without")
    assert error_with < ID_MARGIN * error_without, (error_with, error_without)
