"""What a feature kind is: everything the project does with a column of one kind, in one place.

A kind (numbers, dates and times, categories, ...) is one `FeatureKind`, in a module of its own
beside this one, listed once in `KINDS` (trainer/kinds/__init__.py). Its methods are every place
a column of that kind is handled, from the raw CSV file to the served model:

- the schema: its field in `Schema` (`numeric=(...)`), named as the kind and rendered in
  trainer/features.py from the copier answer `<name>_features`;
- `make schema`: whether a described column is of the kind (`recognizes`: by its values, such as
  whether `accepts_cell` takes every one of them), or why the column is left out all the same
  (`left_out_reason`);
- `make prepare`: what a CSV cell must hold (`accepts_cell`); instances.json, the input of
  `make predict`: an instance's value, written from a cell (`instance_value`) and checked
  (`accepts_instance`), a missing one as `instance_missing`;
- the statistics the preprocessing is built from: accumulated a block of rows at a time, the same
  way by the trainer's scan and by `make prepare`, and written as the kind's sections of the
  stats file (`statistics`, `accumulator`), with a warning for statistics that will train badly;
- training and serving: the serving input's `dtype`, how the tf.data pipeline decodes a CSV cell
  (`decode`), and the kind's encodings for each use the model families make of features
  (`dense`, `one_hot`, `embedded`, `crossable`, `bucketized`). A kind has no encoding for a use
  it returns nothing for.

The workstation imports every kind (`make schema`, `make predict`'s check of the instances), and
those commands start at once: the kinds' modules import nothing at the top but the standard
library, and NumPy, TensorFlow and Keras inside the methods that need them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from trainer.csv_reader import MISSING_VALUES, DataError

if TYPE_CHECKING:
    import numpy as np
    import tensorflow as tf

    from trainer.hparams import HParams
    from trainer.schema import Schema
    from trainer.stats import DataStats


class ColumnSummary(Protocol):
    """What `make schema` knows of a column when it proposes a kind for it: a description of its
    values (workflow/data/describe.py's ColumnStats)."""

    name: str
    count: int  # values present
    numeric: bool  # every present value is a finite number
    integer: bool  # ... and a whole one
    distinct: int | None  # distinct values, None when more than max_distinct
    max_distinct: int
    # No value repeats: distinct == count, or, past max_distinct, none of the first distinct
    # values counted comes back.
    all_distinct: bool
    words: float  # whitespace-separated words a present value holds, on average
    max_words: float  # more than this, on average, is free text (config/data.yaml)

    def accepts(self, kind: FeatureKind) -> bool:
        """Whether every present value is one that `kind.accepts_cell` accepts."""


@dataclass(frozen=True)
class ColumnBlock:
    """One column's raw CSV values in a block of rows, as the statistics' scans read them."""

    path: str
    column: str
    values: np.ndarray  # bytes, one per row
    present: np.ndarray  # bool: not a missing-value token
    keep: np.ndarray  # bool: the row has a label (a row without one is dropped)
    line_numbers: np.ndarray

    def error(self, offset: int, problem: str) -> DataError:
        """A DataError naming the file, the line of the row at `offset`, and the column."""
        return DataError(
            f"{self.path}, line {self.line_numbers[offset]}: column '{self.column}' has {problem}"
        )


class ColumnAccumulator(Protocol):
    """A column's statistics, accumulated block by block in constant memory (beyond what they
    are, such as a vocabulary)."""

    def add(self, block: ColumnBlock) -> None: ...

    def result(self) -> dict[str, object] | None:
        """Each of the kind's statistics of the column; None when no row had a value."""


Columns = tuple[str, ...]  # the names of a kind's feature columns

# A reason for `make schema` to leave out a column of any kind whose values could name rows.
ALL_DISTINCT = "a different value in every row (an identifier?)"


def missing_mask(values: tf.Tensor) -> tf.Tensor:
    """True where a CSV string is a missing-value token."""
    import tensorflow as tf  # noqa: PLC0415 -- the trainer's alone (see the module's docstring)

    return tf.reduce_any(tf.equal(values[:, None], tf.constant(MISSING_VALUES)[None, :]), axis=1)


class FeatureKind(ABC):
    """A kind of feature column. Subclasses set the class attributes and the abstract methods;
    the others have defaults: any cell accepted, no warning, no encoding for a use."""

    name: str  # the Schema's field and the copier answer `<name>_features`
    dtype: str  # the serving input's dtype, as TensorFlow names it
    statistics: tuple[str, ...] = ()  # its sections of the stats file, each a dict by column
    # Its settings in the Schema, after its columns, each a whole number >= 0 with its default:
    # how a column of the kind is read (rendered in trainer/features.py from the copier answers).
    settings: tuple[tuple[str, int], ...] = ()
    value_words: str  # a value of the kind, in messages: "a number"
    # A regular expression that a present value of the kind matches whole, as both Python and
    # RE2 (TensorFlow's, BigQuery's) read it: the prepare in BigQuery checks cells with it.
    # None: any text.
    cell_pattern: str | None = None
    instance_missing: str  # a missing value in instances.json, as JSON: "null"

    @property
    def answer(self) -> str:
        """The copier answer that lists the features of this kind."""
        return f"{self.name}_features"

    # ---------------------------------------------------------------------------- make schema

    @abstractmethod
    def recognizes(self, column: ColumnSummary) -> bool:
        """Whether `make schema` proposes a column so described as a feature of this kind (the
        first kind of KINDS that does)."""

    def left_out_reason(self, column: ColumnSummary) -> str | None:
        """Why `make schema` leaves out a column of this kind all the same, or None."""
        return None

    def proposal_note(self, column: ColumnSummary, schema: Schema) -> str | None:
        """What `make schema` says of a column it proposes as this kind, under the project's
        settings (a category that will be hashed), or None."""
        return None

    # ----------------------------------------------------------- make prepare, instances.json

    def accepts_cell(self, value: str) -> bool:
        """Whether `make prepare` accepts a present value of a column of this kind."""
        return True

    @abstractmethod
    def instance_value(self, cell: str | None) -> object:
        """A prepared CSV cell (None when missing) as an instance takes it, in JSON's types; a
        ValueError, saying what the cell holds, when it cannot be one."""

    @abstractmethod
    def accepts_instance(self, value: object) -> bool:
        """Whether the serving signature takes a decoded JSON value for a feature of this kind."""

    # ----------------------------------------------------------------------------- statistics

    @abstractmethod
    def accumulator(self, schema: Schema) -> ColumnAccumulator:
        """A fresh accumulator of one column's statistics, under the schema's settings (such as
        `max_vocabulary`)."""

    def training_warning(self, column: str, stats: DataStats, description: str) -> str | None:
        """A warning about a column whose statistics will train badly, or None."""
        return None

    def encoding_notes(
        self, columns: Columns, schema: Schema, stats: DataStats, hp: HParams
    ) -> list[str]:
        """Lines the trainer logs as it builds a model, on how the statistics made it encode a
        column (a category hashed, with its counts)."""
        return []

    # ------------------------------------------------------- training: TensorFlow, Keras

    @abstractmethod
    def decode(self, values: tf.Tensor) -> tf.Tensor:
        """A batch of a column's CSV strings as the model's input takes them (`dtype`)."""

    # Each encoding takes the kind's columns, the training statistics, the model's inputs by
    # column, and the hyperparameters (the embeddings' width, the hash bins, ...).

    def dense(self, columns: Columns, stats: DataStats, features: dict, hp: HParams) -> list:
        """Real-valued blocks that every model family takes as they are."""
        return []

    def one_hot(self, columns: Columns, stats: DataStats, features: dict, hp: HParams) -> list:
        """Indicator blocks: a linear model's and the wide part's view of the columns."""
        return []

    def embedded(self, columns: Columns, stats: DataStats, features: dict, hp: HParams) -> list:
        """Learned dense vectors of width `hp.embedding_dim`: the deep part's view."""
        return []

    def crossable(self, columns: Columns, stats: DataStats, features: dict, hp: HParams) -> dict:
        """Discrete values by column, which the wide part crosses in pairs."""
        return {}

    def bucketized(self, columns: Columns, stats: DataStats, features: dict, hp: HParams) -> dict:
        """Whole numbers from 0 to hp.numeric_buckets by column (a bucket of the column's values),
        which the wide part one-hot encodes, and crosses in pairs with the crossable values."""
        return {}
