"""The datetime kind's encoding (trainer/kinds/datetime.py), through the Keras layer that the model
and its export are built from, on dates whose day of the year, weekday and hour are known; the
day count that the statistics and the model share, against Python's calendar; and what reading
the date is worth on a seasonal label."""

from __future__ import annotations

import csv
import datetime
import math
import random

import pytest

from trainer.hparams import HParams
from trainer.kinds.datetime import DATETIME, days_since_1970, parse
from trainer.schema import Schema
from trainer.stats import DataStats

from conftest import train_in

MEAN, STD = 19_000.0, 400.0
EPOCH = datetime.date(1970, 1, 1)


def _encode(values: list[str], has_time: bool = True) -> list[list[float]]:
    """The model's encoding of a column of raw strings, with a trend of mean MEAN and std STD."""
    import tensorflow as tf  # noqa: PLC0415 -- only these tests need it

    stats = DataStats(days_mean={"d": MEAN}, days_variance={"d": STD**2}, has_time={"d": has_time})
    [block] = DATETIME.dense(("d",), stats, {"d": tf.constant(values)}, HParams())
    return block.numpy().tolist()


def _circle(turn: float) -> list[float]:
    return [math.sin(2 * math.pi * turn), math.cos(2 * math.pi * turn)]


@pytest.mark.parametrize(
    ("value", "date", "day_of_year", "weekday", "hours"),
    [
        ("2024-01-01", datetime.date(2024, 1, 1), 0 / 366, 0, 0),  # a Monday; a leap year
        ("2024-12-31T18:00", datetime.date(2024, 12, 31), 365 / 366, 1, 18),  # its 366th day
        ("2023-12-31 23:59:59", datetime.date(2023, 12, 31), 364 / 365, 6, 23 + 3599 / 3600),
        # 2000 is a leap year (divisible by 400): Feb 29 is its 60th day. Fractions of a
        # second and the Z are accepted and ignored.
        ("2000-02-29T12:00:00.750Z", datetime.date(2000, 2, 29), 59 / 366, 1, 12),
        # 1900 is not (divisible by 100): March 1 is its 60th day. The offset is ignored: the
        # time is read as written, the local one.
        ("1900-03-01T06:30+05:00", datetime.date(1900, 3, 1), 59 / 365, 3, 6.5),
    ],
)
def test_a_date_encodes_its_day_of_the_year_weekday_hour_and_trend(
    value, date, day_of_year, weekday, hours
):
    assert date.weekday() == weekday  # Monday is 0
    trend = ((date - EPOCH).days + hours / 24 - MEAN) / STD
    [encoded] = _encode([value])
    expected = [*_circle(day_of_year), *_circle(weekday / 7), *_circle(hours / 24), trend]
    assert encoded == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_a_column_of_dates_alone_has_no_time_of_day():
    [encoded] = _encode(["2024-01-01"], has_time=False)
    expected = [*_circle(0), *_circle(0), ((datetime.date(2024, 1, 1) - EPOCH).days - MEAN) / STD]
    assert encoded == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_a_missing_value_encodes_as_zeros():
    """Missing in the CSV (NA, NaN, empty) or in an instance (""); a value in another format,
    which prepare, the trainer's scan and the instance check refuse, serves as missing too."""
    assert _encode(["", "NA", "NaN", "05/31/2024", "2024-01-01"])[:4] == [[0.0] * 7] * 4


def test_the_model_reads_the_days_that_the_statistics_read():
    """Every 97th day from 1600 to 2400, at a time that moves through the day: the trend the
    model computes is the one the statistics' parse computes, to float32's precision."""
    dates = [EPOCH + datetime.timedelta(days=d) for d in range(-135_000, 157_000, 97)]
    values = [f"{date.isoformat()}T{d % 24:02d}:{d % 60:02d}:07" for d, date in enumerate(dates)]
    parsed = [parse(value) for value in values]
    trends = [row[-1] * STD + MEAN for row in _encode(values)]
    expected = [days + seconds / 86_400 for days, seconds, _ in parsed]
    assert trends == pytest.approx(expected, abs=0.05)  # float32's, at 10^5 days from the mean


def test_the_day_count_is_the_calendars():
    for ordinal in range(1, datetime.date(9999, 12, 31).toordinal(), 97):
        date = datetime.date.fromordinal(ordinal)
        days = days_since_1970(date.year, date.month, date.day)
        assert days == (date - EPOCH).days, date
        assert parse(date.isoformat()) == (days, 0, False)


# ------------------------------------------------------------------------- what the dates are worth

# The held-out error of a model that reads the date, against the same model without it, on a
# label that follows the season and the weekday: the date must cut it to a third at most.
SEASON_MARGIN = 1 / 3


def _seasonal_table(path, rows: int, seed: int) -> None:
    """Sales by day over three years: a yearly cycle and a weekly one, plus a number that carries
    a little of the signal and noise; some dates missing."""
    rng = random.Random(seed)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["day", "price", "sales"])
        for _ in range(rows):
            day = datetime.date(2021, 1, 1) + datetime.timedelta(days=rng.randrange(3 * 365))
            season = math.sin(2 * math.pi * day.timetuple().tm_yday / 365.25)
            weekend = day.weekday() >= 5
            price = rng.gauss(10, 2)
            sales = 100 + 30 * season + 15 * weekend - 2 * (price - 10) + rng.gauss(0, 3)
            writer.writerow([day.isoformat() if rng.random() > 0.02 else "", f"{price:.2f}", sales])


def _held_out_rmse(schema, data, job_dir) -> float:
    hp = HParams(model_type="dnn", num_epochs=10, batch_size=64, early_stopping_patience=0)
    return train_in(job_dir, data, hp, schema).metrics["rmse"]


def test_a_date_feature_cuts_the_error_on_a_seasonal_label_to_a_third(tmp_path):
    """The same deep model with and without the date, on held-out days: what was thrown away
    before the datetime kind (`make schema` left date columns out) is most of the signal."""
    for name, rows, seed in (("train.csv", 1000, 1), ("eval.csv", 400, 2)):
        _seasonal_table(tmp_path / name, rows, seed)
    with_date = Schema(label="sales", task_type="regression", numeric=("price",), datetime=("day",))
    without = Schema(label="sales", task_type="regression", numeric=("price",))
    error_with = _held_out_rmse(with_date, tmp_path, tmp_path / "with")
    error_without = _held_out_rmse(without, tmp_path, tmp_path / "without")
    assert error_with < SEASON_MARGIN * error_without, (error_with, error_without)
