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

# A number as both Python and the trainer's TensorFlow read it: no "inf", no "1_000", no "0x1f".
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class Moments:
    """A numeric column's count, sum and sum of squares over the rows kept."""

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.sum_sq = 0.0

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

    def result(self) -> dict[str, object] | None:
        if self.count == 0:
            return None
        mean = self.sum / self.count
        return {"mean": mean, "variance": max(self.sum_sq / self.count - mean**2, 0.0)}


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


class Numeric(FeatureKind):
    name = "numeric"
    dtype = "float32"
    statistics = ("mean", "variance")
    value_words = "a number"
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


NUMERIC = Numeric()
