"""What the trainer knows about a dataset: which CSV columns it reads, and how."""

from __future__ import annotations

from dataclasses import dataclass

# Cell values that mean "missing" in the CSV files, as pandas and R write them.
MISSING_VALUES = ("", "NA", "NaN")

TASK_TYPES = ("classification", "regression")


@dataclass(frozen=True)
class Schema:
    """The label and feature columns of a CSV dataset. Other columns are ignored."""

    label: str
    task_type: str
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.task_type not in TASK_TYPES:
            raise ValueError(f"task_type must be one of {TASK_TYPES}, not {self.task_type!r}")
        if not self.features:
            raise ValueError("the schema declares no feature columns")
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"a column is declared twice in {self.columns}")

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the trainer reads: the features, then the label."""
        return (*self.features, self.label)

    @property
    def is_classification(self) -> bool:
        return self.task_type == "classification"
