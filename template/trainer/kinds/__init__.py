"""The feature kinds: one module each (numeric.py, datetime.py, categorical.py), on the interface
of base.py, and the one list of them, KINDS. Adding a kind is its module, its entry in KINDS, and
its entry in tests/test_kinds.py (docs/data.md, "Adding a feature kind").

No NumPy, TensorFlow or Keras at import: the workstation imports the kinds (base.py says why).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from trainer.kinds.base import ColumnSummary, FeatureKind
from trainer.kinds.categorical import CATEGORICAL
from trainer.kinds.datetime import DATETIME
from trainer.kinds.numeric import NUMERIC

if TYPE_CHECKING:
    from trainer.hparams import HParams
    from trainer.schema import Schema
    from trainer.stats import DataStats


def checked(kinds: Sequence[FeatureKind]) -> tuple[FeatureKind, ...]:
    """The kinds, once no two share a name or a section of the stats file."""
    for attribute, values in (
        ("name", [kind.name for kind in kinds]),
        ("statistic", [s for kind in kinds for s in kind.statistics]),
    ):
        twice = sorted({value for value in values if values.count(value) > 1})
        if twice:
            raise ImportError(f"trainer/kinds: two kinds share the {attribute} {', '.join(twice)}")
    return tuple(kinds)


# Every feature kind, in the order of the schema's fields, of the features, of the stats file's
# sections and of the model's blocks. `make schema` proposes a column as the first kind that
# recognizes it, so categories, which take any column, come last. Dates come after numbers, so
# that a project without them keeps its model's blocks and its stats file's sections in order.
KINDS = checked([NUMERIC, DATETIME, CATEGORICAL])


def recognize(column: ColumnSummary) -> FeatureKind:
    """The kind `make schema` proposes for a described column."""
    return next(kind for kind in KINDS if kind.recognizes(column))


class Encodings:
    """The model families' building blocks (trainer/model.py): for each use, every kind's
    encoding of the schema's features of that kind, in the order of KINDS."""

    def __init__(self, schema: Schema, stats: DataStats, features: dict, hp: HParams):
        self.stats, self.features, self.hp = stats, features, hp
        self.columns = [(kind, schema.of(kind)) for kind in KINDS if schema.of(kind)]
        for kind, columns in self.columns:
            for note in kind.encoding_notes(columns, schema, stats, hp):
                logging.info("%s", note)

    def dense(self) -> list:
        """Real-valued blocks, taken as they are by every family: standardized numbers, encoded
        dates and times."""
        return [b for kind, cols in self.columns for b in kind.dense(cols, *self._data)]

    def one_hot(self) -> list:
        """Indicator blocks of the linear model and the wide part: one-hot categories."""
        return [b for kind, cols in self.columns for b in kind.one_hot(cols, *self._data)]

    def embedded(self) -> list:
        """Learned vectors of the deep part: embedded categories."""
        return [b for kind, cols in self.columns for b in kind.embedded(cols, *self._data)]

    def crossable(self) -> dict:
        """Discrete values by feature, which the wide part crosses in pairs: categories."""
        return {
            name: values
            for kind, cols in self.columns
            for name, values in kind.crossable(cols, *self._data).items()
        }

    def bucketized(self) -> dict:
        """Bucket numbers by feature, which the wide part one-hot encodes and crosses: numbers in
        quantile buckets (hp.numeric_buckets of them; none when 0)."""
        return {
            name: ids
            for kind, cols in self.columns
            for name, ids in kind.bucketized(cols, *self._data).items()
        }

    @property
    def _data(self) -> tuple:
        return self.stats, self.features, self.hp
