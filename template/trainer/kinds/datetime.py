"""Dates and times (`datetime_features`): a string input, the value as the CSV writes it, an ISO
8601 date (2024-05-31) or date-time (2024-05-31T14:30, 2024-05-31 14:30:05.250Z, ...). The model
parses it itself, in TensorFlow ops that the export keeps, so serving takes the raw string too.
It encodes a value as

- its day of the year and its day of the week, each as a point on a circle (sin, cos): December
  31 sits next to January 1, and Sunday next to Monday;
- its time of day, on a circle too, when the training rows hold times (a column of dates alone
  has no time of day to learn from);
- a trend: the days since 1970-01-01, with the time of day as a fraction of a day, standardized
  with the training rows' mean and variance (the statistics `days_mean` and `days_variance`;
  `has_time` says whether any training value held a time).

A time is read as it is written: a trailing `Z` or offset (`+02:00`) is accepted and ignored,
since the hour that carries signal is the local one (a shop opens at 9 wherever it is), and
fractions of a second are accepted and ignored. A date alone is at midnight. A missing value
(empty, NA, NaN in the CSV; "" in an instance) encodes as zeros: the mean trend, and no
particular day or hour.
"""

from __future__ import annotations

import functools
import math
import re

from trainer.kinds.base import ColumnBlock, ColumnSummary, FeatureKind
from trainer.kinds.numeric import Moments

# The formats read, as both Python and the model's TensorFlow (RE2) match them: [0-9], not \d,
# which Python's re also lets match other scripts' digits. Groups: year, month, day, and the
# hour, minute and second when there are.
ISO_DATETIME = (
    r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"(?:[T ]([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9])(?:\.[0-9]+)?)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?"
)
FORMATS = "YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]"
SECONDS_A_DAY = 86_400
# What the model parses in place of a value that is missing: any date would do, its encoding is
# replaced by zeros. The padding gives a date alone a time of midnight, and every value the
# characters that the model's fixed-position reading takes.
PLACEHOLDER, PADDING = "1970-01-01", "T00:00:00"

_ISO = re.compile(ISO_DATETIME)


def days_since_1970(year, month, day):
    """Days from 1970-01-01 to a date of the proleptic Gregorian calendar (its Julian day number
    less that of 1970-01-01), in integer arithmetic alone: Python's ints and TensorFlow's int64
    tensors compute it alike, which keeps the statistics and the model on the same days."""
    march_based = (14 - month) // 12  # 1 in January and February: they end the previous year
    year = year + 4800 - march_based
    month = month + 12 * march_based - 3
    julian_day = (
        day + (153 * month + 2) // 5 + 365 * year + year // 4 - year // 100 + year // 400 - 32045
    )
    return julian_day - 2_440_588


def parse(text: str) -> tuple[int, int, bool] | None:
    """An ISO 8601 date or date-time as (days since 1970-01-01, seconds into the day, whether it
    has a time); None for any other text, a day past its month's end (2023-02-29) included."""
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(group or 0) for group in match.groups())
    month_length = days_since_1970(year + month // 12, month % 12 + 1, 1) - days_since_1970(
        year, month, 1
    )
    if day > month_length:
        return None
    seconds = 3600 * hour + 60 * minute + second
    return days_since_1970(year, month, day), seconds, match[4] is not None


class DateMoments:
    """A datetime column's trend (days since 1970-01-01), its count, sum and sum of squares, and
    whether a value has a time, over the rows kept."""

    def __init__(self) -> None:
        self.trend = Moments()
        self.has_time = False

    def add(self, block: ColumnBlock) -> None:
        import numpy as np  # noqa: PLC0415 -- see trainer/kinds/base.py's docstring

        trend = np.full(block.values.shape, np.nan)
        for offset in np.flatnonzero(block.present):
            value = block.values[offset].decode(errors="replace")
            parsed = parse(value)
            if parsed is None:
                raise block.error(offset, f"the value {value!r}, not {DATETIME.value_words}")
            days, seconds, has_time = parsed
            trend[offset] = days + seconds / SECONDS_A_DAY
            self.has_time = self.has_time or (has_time and bool(block.keep[offset]))
        self.trend.add_numbers(trend[block.keep])

    def result(self) -> dict[str, object] | None:
        moments = self.trend.result()
        if moments is None:
            return None
        return {
            "days_mean": moments["mean"],
            "days_variance": moments["variance"],
            "has_time": self.has_time,
        }


@functools.cache
def encoding_layer() -> type:
    """Keras' layer class that encodes a column of ISO 8601 strings, made on first use: Keras is
    imported by the trainer alone (see trainer/kinds/base.py's docstring)."""
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    class DatetimeEncoding(keras.layers.Layer):
        """[batch] ISO strings to [batch, 5] floats: sin and cos of the day of the year and of
        the day of the week, then the standardized trend; [batch, 7] with the time of day's sin
        and cos after the weekday's. Zeros for a value that is missing (or not ISO 8601). The
        parsing is TensorFlow ops at fixed positions, which the export keeps."""

        def __init__(self, days_mean: float, days_variance: float, has_time: bool, **kwargs):
            super().__init__(**kwargs)
            self.days_mean = float(days_mean)
            self.days_std = math.sqrt(max(float(days_variance), 1e-12))
            self.has_time = bool(has_time)

        def call(self, values):
            valid = tf.strings.regex_full_match(values, ISO_DATETIME)
            text = tf.strings.join([tf.where(valid, values, PLACEHOLDER), PADDING])
            # Seconds follow at 17 when a colon does at 16; otherwise the time is HH:MM.
            with_seconds = tf.equal(tf.strings.substr(text, 16, 1), ":")
            second_digits = tf.where(with_seconds, tf.strings.substr(text, 17, 2), "00")

            def number(digits):
                return tf.strings.to_number(digits, tf.int64)

            def digits_at(position, length):
                return number(tf.strings.substr(text, position, length))

            year, month, day = digits_at(0, 4), digits_at(5, 2), digits_at(8, 2)
            seconds = digits_at(11, 2) * 3600 + digits_at(14, 2) * 60 + number(second_digits)
            days = days_since_1970(year, month, day)
            new_year = days_since_1970(year, 1, 1)
            year_length = days_since_1970(year + 1, 1, 1) - new_year
            day_fraction = tf.cast(seconds, tf.float64) / SECONDS_A_DAY
            turns = [  # each as a fraction of a full circle
                tf.cast(days - new_year, tf.float64) / tf.cast(year_length, tf.float64),
                tf.cast((days + 3) % 7, tf.float64) / 7,  # 1970-01-01 was a Thursday: Monday is 0
            ]
            if self.has_time:
                turns.append(day_fraction)
            angles = 2 * math.pi * tf.stack(turns, axis=-1)
            trend = (tf.cast(days, tf.float64) + day_fraction - self.days_mean) / self.days_std
            circles = tf.reshape(
                tf.stack([tf.sin(angles), tf.cos(angles)], axis=-1), [-1, 2 * len(turns)]
            )
            encoded = tf.concat([circles, trend[:, None]], axis=-1)
            return tf.cast(encoded, tf.float32) * tf.cast(valid, tf.float32)[:, None]

    return DatetimeEncoding


class Datetime(FeatureKind):
    name = "datetime"
    cell_pattern = ISO_DATETIME  # with a day past its month's end, which `parse` refuses
    dtype = "string"
    statistics = ("days_mean", "days_variance", "has_time")
    value_words = f"an ISO 8601 date or date-time ({FORMATS})"
    instance_missing = '""'

    def recognizes(self, column: ColumnSummary) -> bool:
        """Every value is a date or a date-time in ISO 8601, whatever the column's name."""
        return column.accepts(self)

    def accepts_cell(self, value: str) -> bool:
        return parse(value) is not None

    def instance_value(self, cell: str | None) -> str:
        if cell is None:
            return ""
        if parse(cell) is None:
            raise ValueError(f"the value {cell!r}")
        return cell

    def accepts_instance(self, value: object) -> bool:
        return isinstance(value, str) and (value == "" or parse(value) is not None)

    def accumulator(self, schema) -> DateMoments:
        return DateMoments()

    def decode(self, values):
        """The CSV strings as they are: the model parses them (a missing-value token encodes as
        a missing value)."""
        return values

    def dense(self, columns, stats, features, hp) -> list:
        """Each column's day of the year, day of the week, time of day (when the training rows
        have times) and trend: the layer `<column>_datetime`."""
        return [
            encoding_layer()(
                stats.days_mean[name],
                stats.days_variance[name],
                stats.has_time[name],
                name=f"{name}_datetime",
            )(features[name])
            for name in columns
        ]


DATETIME = Datetime()
