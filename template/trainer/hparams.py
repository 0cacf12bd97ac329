"""Hyperparameters: each field is a `python -m trainer.task` flag and can be tuned on Vertex AI."""

from __future__ import annotations

from dataclasses import dataclass

from trainer.features import DEFAULT_MODEL_TYPE, DEFAULT_NUMERIC_BUCKETS

# The model families, the one list of them: --model-type's choices, and what build_model
# dispatches on, each built by its function `<name>_outputs` in trainer/model.py (listed here,
# where no TensorFlow is imported, for --help). A new family is that function, its name here,
# and its choice in copier.yml's model_type.
MODEL_TYPES = ("linear", "dnn", "wide_deep")


@dataclass(frozen=True)
class HParams:
    model_type: str = DEFAULT_MODEL_TYPE
    num_epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 0.01
    # Layer widths of the deep part (dnn, wide_deep).
    hidden_units: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    # Width of each categorical feature's embedding in the deep part.
    embedding_dim: int = 4
    # Hash buckets of each crossed pair of features in the wide part (wide_deep).
    cross_bins: int = 64
    # Quantile buckets of each numeric feature, one-hot and crossed in the wide part (wide_deep;
    # 0: none). At most 100: the stats file holds each number's percentiles.
    numeric_buckets: int = DEFAULT_NUMERIC_BUCKETS
    # Hash bins of a categorical feature with more values than the schema's max_vocabulary: a
    # few times the values it hashes keeps most of them apart.
    hash_bins: int = 8192
    # Stop after this many epochs without a better validation loss (0 turns early stopping off).
    early_stopping_patience: int = 5
