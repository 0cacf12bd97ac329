"""Categories (`categorical_features`): a string input, looked up in the training rows'
vocabulary, then one-hot (linear, the wide part), embedded (the deep part) or crossed in pairs
(the wide part). A missing value (empty, NA, NaN in the CSV; "" in an instance) and a value
training never saw share the vocabulary's one extra slot."""

from __future__ import annotations

from collections import Counter

from trainer.kinds.base import ALL_DISTINCT, ColumnBlock, ColumnSummary, FeatureKind

# A categorical feature with more distinct values than this in the training rows draws a
# warning: the linear and wide models one-hot encode it (a weight per value and class), the
# stats file lists every value, and beyond about a thousand values hashing or leaving the column
# out usually serves better. So does a feature with more values than half the training rows
# (on average fewer than two rows per value), the rule by which `make schema` calls a column
# free text.
MAX_CATEGORIES = 1000


class Vocabulary:
    """A categorical column's values, counted over the rows kept."""

    def __init__(self) -> None:
        self.counter: Counter = Counter()

    def add(self, block: ColumnBlock) -> None:
        self.counter.update(block.values[block.keep & block.present].tolist())

    def result(self) -> dict[str, object] | None:
        if not self.counter:
            return None
        # Most frequent first, then alphabetical, so the order is stable across runs.
        ranked = sorted(self.counter.items(), key=lambda item: (-item[1], item[0]))
        return {"vocabularies": [value.decode() for value, _ in ranked]}


class Categorical(FeatureKind):
    name = "categorical"
    dtype = "string"
    statistics = ("vocabularies",)
    # A column with more distinct values than this in the training rows is hashed (0: never).
    settings = (("max_vocabulary", 0),)
    value_words = "a string"
    instance_missing = '""'

    def recognizes(self, column: ColumnSummary) -> bool:
        """Any column: the kind of last resort, last in KINDS."""
        return True

    def left_out_reason(self, column: ColumnSummary) -> str | None:
        if column.distinct == column.count:
            return ALL_DISTINCT
        if column.distinct is None or column.distinct > column.count / 2:
            many = (
                f"more than {column.max_distinct}" if column.distinct is None else column.distinct
            )
            return f"{many} distinct values in {column.count} rows: free text, not categories"
        return None

    def instance_value(self, cell: str | None) -> str:
        return "" if cell is None else cell

    def accepts_instance(self, value: object) -> bool:
        return isinstance(value, str)

    def accumulator(self, schema) -> Vocabulary:
        return Vocabulary()

    def training_warning(self, column, stats, description) -> str | None:
        count = len(stats.vocabularies.get(column, ()))
        if count <= min(MAX_CATEGORIES, stats.rows / 2):
            return None
        return (
            f"{description}: the categorical feature '{column}' has {count} distinct values in "
            f"{stats.rows} training rows: too many to learn from (more than "
            f"{min(MAX_CATEGORIES, stats.rows // 2)}); leave it out of categorical_features "
            "(make schema proposes the features) unless you know it helps"
        )

    def decode(self, values):
        """The CSV strings as they are: a missing-value token is a value outside the vocabulary."""
        return values

    def one_hot(self, columns, stats, features, hp) -> list:
        """Each column one-hot, with one extra slot for unseen and missing values."""
        import keras  # noqa: PLC0415 -- see trainer/kinds/base.py's docstring

        return [
            keras.layers.StringLookup(
                vocabulary=stats.vocabularies[name], output_mode="one_hot", name=f"{name}_one_hot"
            )(features[name])
            for name in columns
        ]

    def embedded(self, columns, stats, features, hp) -> list:
        import keras  # noqa: PLC0415 -- see trainer/kinds/base.py's docstring

        blocks = []
        for name in columns:
            vocabulary = stats.vocabularies[name]
            ids = keras.layers.StringLookup(vocabulary=vocabulary, name=f"{name}_ids")(
                features[name]
            )
            blocks.append(
                keras.layers.Embedding(len(vocabulary) + 1, hp.embedding_dim, name=f"{name}_embed")(
                    ids
                )
            )
        return blocks

    def crossable(self, columns, stats, features, hp) -> dict:
        """The raw strings: the wide part hashes each pair of them."""
        return {name: features[name] for name in columns}


CATEGORICAL = Categorical()
