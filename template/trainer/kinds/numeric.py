"""Numbers (`numeric_features`): a float32 input, standardized with the training rows' mean and
variance. A missing value (empty, NA, NaN in the CSV; null in an instance) is NaN to the model,
which standardizes it to 0: the mean. A regression label is read as a number too (its mean and
variance rescale the model's output)."""

from __future__ import annotations

import functools
import math
import re
from typing import TYPE_CHECKING

from trainer.kinds.base import (
    ALL_DISTINCT,
    ColumnBlock,
    ColumnSummary,
    FeatureKind,
    missing_mask,
)

if TYPE_CHECKING:
    import numpy as np

# The stats file holds each number's percentiles (the 1st to the 99th): the most quantile
# buckets a numeric feature can have (--numeric-buckets).
MAX_BUCKETS = 100

# Values a column's QuantileSketch holds at each level before it compacts (8 bytes each).
SKETCH_CAPACITY = 1 << 16

# A number as both Python and the trainer's TensorFlow read it: no "inf", no "1_000", no "0x1f".
NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class QuantileSketch:
    """A column's values in bounded memory, for its percentiles.

    Up to SKETCH_CAPACITY values it holds them all, and its percentiles are exact: each is the
    smallest value with at least that share of the values at or below it (SQL's PERCENTILE_DISC).
    Beyond, it compacts as KLL sketches do, but deterministically: a full level is sorted and
    every other value moves up a level, where each counts twice (the other half alternately, so
    that no side is favoured). A percentile is then off by at most about log2(n / capacity) /
    capacity of the ranks: 0.01% at a billion values. The same blocks in the same order, as the
    trainer's scan and `make prepare` read them, give the same percentiles.
    """

    def __init__(self) -> None:
        self.levels: list[list[np.ndarray]] = [[]]  # level h: chunks of values that count 2**h
        self.sizes = [0]
        self.compactions = [0]

    def add(self, numbers: np.ndarray) -> None:
        self._push(0, numbers)

    def _push(self, level: int, values: np.ndarray) -> None:
        import numpy as np  # noqa: PLC0415 -- see trainer/kinds/base.py's docstring

        if level == len(self.levels):
            self.levels.append([])
            self.sizes.append(0)
            self.compactions.append(0)
        self.levels[level].append(values)
        self.sizes[level] += values.size
        if self.sizes[level] < SKETCH_CAPACITY:
            return
        ordered = np.sort(np.concatenate(self.levels[level]))
        odd = ordered[-1:] if ordered.size % 2 else ordered[:0]  # stays at this level
        pairs = ordered[: ordered.size - odd.size]
        moved = pairs[self.compactions[level] % 2 :: 2]
        self.compactions[level] += 1
        self.levels[level], self.sizes[level] = [odd], odd.size
        self._push(level + 1, moved)

    def percentiles(self) -> list[float]:
        """The 1st to the 99th percentile."""
        import numpy as np  # noqa: PLC0415 -- see trainer/kinds/base.py's docstring

        values = np.concatenate([c for level in self.levels for c in level])
        weights = np.concatenate(
            [np.full(c.size, 2.0**h) for h, level in enumerate(self.levels) for c in level]
        )
        order = np.argsort(values, kind="stable")
        cumulative = np.cumsum(weights[order])
        ranks = np.arange(1, MAX_BUCKETS) / MAX_BUCKETS * cumulative[-1]
        # Whole weights, so that a rank equal to a cumulative count picks that value exactly.
        picked = np.searchsorted(cumulative, ranks - 1e-9 * cumulative[-1], side="left")
        return [float(v) for v in values[order][picked]]


class Moments:
    """A numeric column's count, sum and sum of squares over the rows kept, and its percentiles."""

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.sum_sq = 0.0
        self.sketch = QuantileSketch()

    def add(self, block: ColumnBlock) -> None:
        import numpy as np  # noqa: PLC0415 -- see trainer/kinds/base.py's docstring

        numbers = np.full(block.values.shape, np.nan)
        present = block.present
        try:
            numbers[present] = block.values[present].astype(np.float64)
        except ValueError:
            for offset, value in enumerate(block.values):
                if not present[offset]:
                    continue
                try:
                    float(value)
                except ValueError:
                    raise block.error(
                        offset, f"the non-numeric value {value.decode(errors='replace')!r}"
                    ) from None
            raise
        self.add_numbers(numbers[block.keep])

    def add_numbers(self, numbers: np.ndarray) -> None:
        """Float64 values of the rows kept; NaN, for a missing value, is left out."""
        import numpy as np  # noqa: PLC0415 -- see trainer/kinds/base.py's docstring

        numbers = numbers[~np.isnan(numbers)]  # the missing, and a "nan" written out
        self.count += numbers.size
        self.sum += float(numbers.sum())
        self.sum_sq += float(np.square(numbers).sum())
        if numbers.size:
            self.sketch.add(numbers)

    def result(self) -> dict[str, object] | None:
        if self.count == 0:
            return None
        mean = self.sum / self.count
        return {
            "mean": mean,
            "variance": max(self.sum_sq / self.count - mean**2, 0.0),
            "quantiles": self.sketch.percentiles(),
        }


def bucket_boundaries(percentiles: list[float], buckets: int) -> list[float]:
    """The boundaries of `buckets` quantile buckets (of about equal shares of the training
    rows), from a column's 99 percentiles; fewer where the values repeat."""
    picked = (percentiles[round(i * MAX_BUCKETS / buckets) - 1] for i in range(1, buckets))
    return sorted(set(picked))


@functools.cache
def standardize_layer() -> type:
    """Keras' layer class that standardizes a block of numbers, made on first use: Keras is
    imported by the trainer alone (see trainer/kinds/base.py's docstring)."""
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    class Standardize(keras.layers.Layer):
        """(x - mean) / std per column; a missing value (NaN) becomes 0, the mean."""

        def __init__(self, mean: list[float], variance: list[float], **kwargs):
            super().__init__(**kwargs)
            self.mean = np.asarray(mean, dtype="float32")
            self.std = np.sqrt(np.maximum(np.asarray(variance, dtype="float32"), 1e-12))

        def call(self, x):
            z = (x - self.mean) / self.std
            return keras.ops.where(keras.ops.isnan(z), keras.ops.zeros_like(z), z)

    return Standardize


@functools.cache
def bucketize_layer() -> type:
    """Keras' layer class that puts a column of numbers in quantile buckets, made on first use."""
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    class Bucketize(keras.layers.Layer):
        """A number's bucket among `boundaries`, from 0; a missing value (NaN) is `missing_id`."""

        def __init__(self, boundaries: list[float], missing_id: int, **kwargs):
            super().__init__(**kwargs)
            self.boundaries = [float(b) for b in boundaries]
            self.missing_id = missing_id

        def call(self, x):
            # TensorFlow's own op: keras.ops.digitize copies its input through NumPy.
            ids = tf.raw_ops.Bucketize(input=x, boundaries=self.boundaries)
            return tf.where(tf.math.is_nan(x), self.missing_id, ids)

    return Bucketize


class Numeric(FeatureKind):
    name = "numeric"
    dtype = "float32"
    statistics = ("mean", "variance", "quantiles")
    value_words = "a number"
    cell_pattern = NUMBER.pattern
    instance_missing = "null"

    def recognizes(self, column: ColumnSummary) -> bool:
        return column.numeric

    def left_out_reason(self, column: ColumnSummary) -> str | None:
        if column.integer and column.distinct == column.count:
            return ALL_DISTINCT
        return None

    def accepts_cell(self, value: str) -> bool:
        return NUMBER.fullmatch(value) is not None

    def instance_value(self, cell: str | None) -> float | None:
        try:
            number = math.nan if cell is None else float(cell)
        except ValueError:
            raise ValueError(f"the non-numeric value {cell!r}") from None
        return number if math.isfinite(number) else None

    def accepts_instance(self, value: object) -> bool:
        """A JSON number (not a boolean, which Python reads as an int, nor NaN or Infinity), or
        null for a missing value."""
        if value is None:
            return True
        if isinstance(value, float):
            return math.isfinite(value)
        return isinstance(value, int) and not isinstance(value, bool)

    def accumulator(self, schema) -> Moments:
        return Moments()

    def decode(self, values):
        """CSV strings to float32, with missing values as NaN (the model fills them in)."""
        import tensorflow as tf  # noqa: PLC0415 -- see trainer/kinds/base.py's docstring

        return tf.strings.to_number(tf.where(missing_mask(values), "nan", values), tf.float32)

    def dense(self, columns, stats, features, hp) -> list:
        """Every numeric column in one block, standardized: the layer `standardize`."""
        import keras  # noqa: PLC0415 -- see trainer/kinds/base.py's docstring

        stacked = keras.ops.stack([features[name] for name in columns], axis=-1)
        standardize = standardize_layer()(
            [stats.mean[name] for name in columns],
            [stats.variance[name] for name in columns],
            name="standardize",
        )
        return [standardize(stacked)]

    def bucketized(self, columns, stats, features, hp) -> dict:
        """Each column's quantile bucket, from 0 to hp.numeric_buckets - 1, and a missing value
        in the last, hp.numeric_buckets: the layers `<column>_buckets`."""
        if not hp.numeric_buckets:
            return {}
        return {
            name: bucketize_layer()(
                bucket_boundaries(stats.quantiles[name], hp.numeric_buckets),
                missing_id=hp.numeric_buckets,
                name=f"{name}_buckets",
            )(features[name])
            for name in columns
        }


NUMERIC = Numeric()
