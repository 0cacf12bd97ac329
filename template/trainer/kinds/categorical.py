"""Categories (`categorical_features`): a string input, then one-hot (linear, the wide part),
embedded (the deep part) or crossed in pairs (the wide part).

A column with at most the schema's `max_vocabulary` distinct values in the training rows (or any
number, when it is 0) is looked up in their vocabulary, which the stats file lists: a missing
value (empty, NA, NaN in the CSV; "" in an instance) and a value training never saw share its one
extra slot. A column with more (an id of customers, products, places) is hashed into the
trainer's `--hash-bins` bins instead: the stats file holds its distinct count alone (the section
`hashed`), not a vocabulary as large as the data; a missing value has a bin of its own, and an
unseen value falls in a bin of seen ones. Serving takes the raw string either way."""

from __future__ import annotations

from collections import Counter

from trainer.kinds.base import ALL_DISTINCT, ColumnBlock, ColumnSummary, FeatureKind, missing_mask

# A categorical feature looked up in a vocabulary of more values than this draws a warning: the
# linear and wide models one-hot encode it (a weight per value and class), the stats file lists
# every value, and beyond about a thousand values hashing (max_vocabulary) or leaving the column
# out usually serves better. So does a feature with more values than half the training rows (on
# average fewer than two rows per value). A hashed feature draws none: hashing is the remedy.
MAX_CATEGORIES = 1000


class Vocabulary:
    """A categorical column's values, counted over the rows kept; past `max_vocabulary` distinct
    values (when it is not 0), their count alone is the result."""

    def __init__(self, max_vocabulary: int) -> None:
        self.max_vocabulary = max_vocabulary
        self.counter: Counter = Counter()

    def add(self, block: ColumnBlock) -> None:
        self.counter.update(block.values[block.keep & block.present].tolist())

    def result(self) -> dict[str, object] | None:
        if not self.counter:
            return None
        if 0 < self.max_vocabulary < len(self.counter):
            return {"hashed": len(self.counter)}
        # Most frequent first, then alphabetical, so the order is stable across runs.
        ranked = sorted(self.counter.items(), key=lambda item: (-item[1], item[0]))
        return {"vocabularies": [value.decode() for value, _ in ranked]}


class Categorical(FeatureKind):
    name = "categorical"
    dtype = "string"
    statistics = ("vocabularies", "hashed")
    # A column with more distinct values than this in the training rows is hashed (0: never).
    settings = (("max_vocabulary", 0),)
    value_words = "a string"
    instance_missing = '""'

    def recognizes(self, column: ColumnSummary) -> bool:
        """Any column: the kind of last resort, last in KINDS."""
        return True

    def left_out_reason(self, column: ColumnSummary) -> str | None:
        """A value per row names rows rather than describing them; free text is many words a
        value, which no vocabulary or hash of whole values learns from. Many distinct values
        alone are no reason: such a column is hashed (`proposal_note`)."""
        if column.all_distinct:
            return ALL_DISTINCT
        if column.words > column.max_words:
            return (
                f"free text ({column.words:.1f} words a value on average, more than "
                f"{column.max_words:g}), not categories"
            )
        return None

    def proposal_note(self, column: ColumnSummary, schema) -> str | None:
        """Says that the column will be hashed, when it has more distinct values than the
        project's max_vocabulary (in the whole file: the training rows are most of it)."""
        cap = schema.max_vocabulary
        if cap == 0 or (column.distinct is not None and column.distinct <= cap):
            return None
        if column.distinct is None and cap >= column.max_distinct:
            return (
                f"more than {column.max_distinct} distinct values: hashed if the training rows "
                f"hold more than max_vocabulary {cap}"
            )
        many = f"more than {column.max_distinct}" if column.distinct is None else column.distinct
        return (
            f"{many} distinct values, more than max_vocabulary {cap}: hashed into the "
            "trainer's --hash-bins bins, not looked up in a vocabulary"
        )

    def instance_value(self, cell: str | None) -> str:
        return "" if cell is None else cell

    def accepts_instance(self, value: object) -> bool:
        return isinstance(value, str)

    def accumulator(self, schema) -> Vocabulary:
        return Vocabulary(schema.max_vocabulary)

    def training_warning(self, column, stats, description) -> str | None:
        count = len(stats.vocabularies.get(column, ()))  # 0 for a hashed column
        if count <= min(MAX_CATEGORIES, stats.rows / 2):
            return None
        return (
            f"{description}: the categorical feature '{column}' has {count} distinct values in "
            f"{stats.rows} training rows: too many to learn from (more than "
            f"{min(MAX_CATEGORIES, stats.rows // 2)}); leave it out of categorical_features "
            "(make schema proposes the features) unless you know it helps"
        )

    def encoding_notes(self, columns, schema, stats, hp) -> list[str]:
        """A line per hashed column: its counts, the cap it passed, and its bins."""
        return [
            f"The categorical feature '{name}' has {stats.hashed[name]} distinct values in "
            f"{stats.rows} training rows, more than max_vocabulary {schema.max_vocabulary}: "
            f"hashed into {hp.hash_bins} bins (--hash-bins)"
            for name in columns
            if name in stats.hashed
        ]

    def decode(self, values):
        """The CSV strings, with a missing-value token as "", as an instance spells it: the model
        looks both up, or hashes both, alike."""
        import tensorflow as tf  # noqa: PLC0415 -- see trainer/kinds/base.py's docstring

        return tf.where(missing_mask(values), "", values)

    def one_hot(self, columns, stats, features, hp) -> list:
        """Each column one-hot: over its vocabulary, with one extra slot for unseen and missing
        values; or over its hash bins."""
        import keras  # noqa: PLC0415 -- see trainer/kinds/base.py's docstring

        blocks = []
        for name in columns:
            if name in stats.hashed:
                bins = _hashing(hp, f"{name}_hashed")(features[name])
                one_hot = keras.layers.CategoryEncoding(
                    hp.hash_bins, output_mode="one_hot", name=f"{name}_one_hot"
                )
                blocks.append(one_hot(bins))
            else:
                lookup = keras.layers.StringLookup(
                    vocabulary=stats.vocabularies[name],
                    output_mode="one_hot",
                    name=f"{name}_one_hot",
                )
                blocks.append(lookup(features[name]))
        return blocks

    def embedded(self, columns, stats, features, hp) -> list:
        """Each column's vocabulary index, or hash bin, as a learned vector."""
        import keras  # noqa: PLC0415 -- see trainer/kinds/base.py's docstring

        blocks = []
        for name in columns:
            if name in stats.hashed:
                ids, slots = _hashing(hp, f"{name}_hashed_ids")(features[name]), hp.hash_bins
            else:
                vocabulary = stats.vocabularies[name]
                lookup = keras.layers.StringLookup(vocabulary=vocabulary, name=f"{name}_ids")
                ids, slots = lookup(features[name]), len(vocabulary) + 1
            blocks.append(
                keras.layers.Embedding(slots, hp.embedding_dim, name=f"{name}_embed")(ids)
            )
        return blocks

    def crossable(self, columns, stats, features, hp) -> dict:
        """The raw strings: the wide part hashes each pair of them."""
        return {name: features[name] for name in columns}


def _hashing(hp, layer_name: str):
    """A hashed column's bins: "" (a missing value) has bin 0, any other string one of the rest
    (of a single bin, every value is in it). Keras' Hashing one-hot encodes a batch of single
    values into the wrong symbolic shape; CategoryEncoding then does it."""
    import keras  # noqa: PLC0415 -- see trainer/kinds/base.py's docstring

    return keras.layers.Hashing(
        num_bins=hp.hash_bins, mask_value="" if hp.hash_bins > 1 else None, name=layer_name
    )


CATEGORICAL = Categorical()
