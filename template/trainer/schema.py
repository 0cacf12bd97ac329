"""What the trainer knows about a dataset: which CSV columns it reads, and how."""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass

from trainer.kinds import KINDS, NUMERIC, FeatureKind

TASK_TYPES = ("classification", "regression")


@dataclass(frozen=True)
class _Columns:
    """The label and task type of a Schema, and what its feature fields add up to."""

    label: str
    task_type: str

    def __post_init__(self) -> None:
        if self.task_type not in TASK_TYPES:
            raise ValueError(f"task_type must be one of {TASK_TYPES}, not {self.task_type!r}")
        if not self.features:
            raise ValueError("the schema declares no feature columns")
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"a column is declared twice in {self.columns}")
        for kind in KINDS:
            for name, _ in kind.settings:
                value = getattr(self, name)
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(f"{name} must be a whole number >= 0, not {value!r}")

    def of(self, kind: FeatureKind) -> tuple[str, ...]:
        """The features of one kind."""
        return getattr(self, kind.name)

    @property
    def features(self) -> tuple[str, ...]:
        """Every feature column, kind by kind in the order of KINDS."""
        return tuple(name for kind in KINDS for name in self.of(kind))

    @property
    def feature_kinds(self) -> dict[str, FeatureKind]:
        """Each feature column's kind."""
        return {name: kind for kind in KINDS for name in self.of(kind)}

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the trainer reads: the features, then the label."""
        return (*self.features, self.label)

    @property
    def is_classification(self) -> bool:
        return self.task_type == "classification"

    @property
    def label_kind(self) -> FeatureKind | None:
        """The kind a label is read as: a number in a regression; a classifier's label is one of
        its classes (the statistics' `classes`), of no feature kind."""
        return None if self.is_classification else NUMERIC

    def read_as(self, kind: FeatureKind) -> tuple[str, ...]:
        """Every column read as values of `kind`: its features, and the label when it is one."""
        return self.of(kind) + ((self.label,) if self.label_kind is kind else ())


# A field per feature kind, made from KINDS, and one per setting of a kind: adding a kind adds
# its fields.
Schema = make_dataclass(
    "Schema",
    [
        *((kind.name, tuple[str, ...], field(default=())) for kind in KINDS),
        *((name, int, field(default=default)) for kind in KINDS for name, default in kind.settings),
    ],
    bases=(_Columns,),
    frozen=True,
    namespace={
        "__module__": __name__,
        "__doc__": "The label and feature columns of a CSV dataset; other columns are ignored. "
        "After the label and the task type, a field per feature kind (trainer/kinds), named as "
        "the kind, lists its columns: Schema(label=..., task_type=..., numeric=(...), "
        "categorical=(...)); then the kinds' settings, such as max_vocabulary.",
    },
)
