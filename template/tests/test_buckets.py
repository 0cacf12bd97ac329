"""Numbers in quantile buckets (trainer/kinds/numeric.py): the percentiles that the statistics
keep of each numeric column, exact on small data and within a stated rank error on large; the
buckets that the wide part of wide_deep one-hot encodes and crosses; and what crossing two
bucketized numbers is worth on a label that depends on both at once."""

from __future__ import annotations

import csv
import random

import numpy as np
import pytest

from trainer.hparams import HParams
from trainer.kinds.numeric import (
    MAX_BUCKETS,
    SKETCH_CAPACITY,
    QuantileSketch,
    bucket_boundaries,
    bucketize_layer,
)
from trainer.schema import Schema

from conftest import train_in

PERCENTS = np.arange(1, MAX_BUCKETS)


def _percentiles(blocks) -> list[float]:
    sketch = QuantileSketch()
    for block in blocks:
        sketch.add(np.asarray(block, dtype=np.float64))
    return sketch.percentiles()


def test_below_the_capacity_the_percentiles_are_exact():
    """SQL's PERCENTILE_DISC, which NumPy calls the inverted CDF: the smallest value with at
    least that share of the values at or below it. Block boundaries make no difference."""
    values = np.random.default_rng(0).normal(size=9_999).round(2)  # ties, too
    expected = np.percentile(values, PERCENTS, method="inverted_cdf").tolist()
    assert _percentiles([values]) == expected
    assert _percentiles(np.array_split(values, 7)) == expected
    assert _percentiles([[3.0]]) == [3.0] * (MAX_BUCKETS - 1)


def test_beyond_the_capacity_the_percentiles_stay_within_their_rank_error():
    """A million values compact four levels deep: each percentile is a value whose rank is off
    by at most log2(n / capacity) / capacity of n (0.006% here; allowed: ten times that)."""
    rng = np.random.default_rng(1)
    values = rng.lognormal(size=1_000_000)
    found = _percentiles(np.array_split(values, 250))
    ordered = np.sort(values)
    ranks = np.searchsorted(ordered, found, side="right") / values.size
    bound = 10 * np.log2(values.size / SKETCH_CAPACITY) / SKETCH_CAPACITY
    assert np.abs(ranks - PERCENTS / MAX_BUCKETS).max() <= bound
    # The same blocks in the same order (the trainer's scan, `make prepare`): the same result.
    assert found == _percentiles(np.array_split(values, 250))


def test_the_boundaries_split_the_rows_into_equal_shares_and_repeats_merge():
    percentiles = [float(p) for p in PERCENTS]  # the values 1 to 99, each once
    assert bucket_boundaries(percentiles, 4) == [25.0, 50.0, 75.0]
    assert bucket_boundaries(percentiles, 1) == []
    assert len(bucket_boundaries(percentiles, MAX_BUCKETS)) == MAX_BUCKETS - 1
    # Half the rows 0 and half 1: ten buckets of the percentiles hold two values.
    assert bucket_boundaries([0.0] * 50 + [1.0] * 49, 10) == [0.0, 1.0]


def test_a_number_falls_in_its_bucket_and_a_missing_one_in_the_last():
    import tensorflow as tf  # noqa: PLC0415 -- only the tests that build layers need it

    layer = bucketize_layer()([1.0, 2.0], missing_id=3)
    ids = layer(tf.constant([0.5, 1.0, 1.5, 2.0, 9.0, float("nan")]))
    assert ids.numpy().tolist() == [0, 1, 1, 2, 2, 3]


# -------------------------------------------------------------- what crossing the buckets is worth

# The held-out error of wide_deep with its numbers bucketized and crossed (the default 10
# buckets), against the same model without (numeric_buckets 0, the wide part as it was): the
# crosses must cut it by 40% at least. Measured: 9.8 against 20.3.
CROSS_MARGIN = 0.6


def _neighbourhood_prices(path, rows: int, seed: int) -> None:
    """Prices on a map of 5 x 5 neighbourhoods, dear and cheap in turn: the price depends on
    both coordinates at once, and on neither alone; plus a number that carries nothing."""
    rng = random.Random(seed)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["lat", "lon", "noise", "price"])
        for _ in range(rows):
            lat, lon = rng.uniform(0, 10), rng.uniform(0, 10)
            dear = (int(lat // 2) + int(lon // 2)) % 2
            price = 100 + 40 * dear + rng.gauss(0, 5)
            writer.writerow([f"{lat:.3f}", f"{lon:.3f}", f"{rng.gauss(0, 1):.3f}", f"{price:.2f}"])


def _held_out_rmse(data, job_dir, buckets: int) -> float:
    schema = Schema(label="price", task_type="regression", numeric=("lat", "lon", "noise"))
    hp = HParams(
        model_type="wide_deep",
        num_epochs=10,
        batch_size=64,
        early_stopping_patience=0,
        numeric_buckets=buckets,
    )
    return train_in(job_dir, data, hp, schema).metrics["rmse"]


@pytest.mark.parametrize("buckets", [10])
def test_crossed_buckets_halve_the_error_on_a_label_of_two_numbers_at_once(tmp_path, buckets):
    for name, rows, seed in (("train.csv", 2000, 1), ("eval.csv", 500, 2)):
        _neighbourhood_prices(tmp_path / name, rows, seed)
    crossed = _held_out_rmse(tmp_path, tmp_path / "crossed", buckets)
    plain = _held_out_rmse(tmp_path, tmp_path / "plain", 0)
    assert crossed < CROSS_MARGIN * plain, (crossed, plain)
