"""The local prepare's checks (workflow/data/prepare.py: PrepareChecks), on the groups of the
checks' query (workflow/bigquery/queries.py): the same refusals, naming the source and a value
instead of a line, and the cleaning report, each split's rows and the instances' rows."""

from __future__ import annotations

import csv
from collections.abc import Mapping

from trainer.csv_reader import DataError
from trainer.schema import Schema
from workflow.data.clean import CleanReport
from workflow.data.picking import InstancePicker


class GroupChecks:
    def __init__(self, path: str, header: list[str], schema: Schema, splits: list[str]):
        self.path, self.header, self.schema = path, header, schema
        self.report = CleanReport()
        self.report.count_columns(header)
        self.rows = dict.fromkeys(splits, 0)
        self.present_in_train = dict.fromkeys(schema.features, 0)
        self.classes: dict[str, set[str]] = {name: set() for name in splits}
        # The instances come from held-out rows: eval, else test (else train).
        self.source = next(name for name in ("eval", "test", "train") if name in splits)
        self.candidates: list[str] = []  # "digest,line"
        self.bad: dict[str, tuple[int, str]] = {}  # column -> (cells, the least of them)
        self.no_key = 0
        self.broken = 0  # rows with a line break in a value

    def add(self, group: Mapping) -> None:
        """One group of the query: (labelled, split[, class]) and its counts."""
        self.report.rows_read += group["n"]
        self.broken += group["broken"]
        for i, name in enumerate(self.header):
            self.report.normalised[name] += group[f"normalised_{i}"]
            self.report.trimmed[name] += group[f"trimmed_{i}"]
        if not group["_labelled"]:
            self.report.rows_dropped += group["n"]
            return
        split = group["_split"]
        self.rows[split] += group["n"]
        self.no_key += group.get("no_key", 0)
        if self.schema.is_classification:
            self.classes[split].add(group["_class"])
        if split == "train":
            for name in self.present_in_train:
                self.present_in_train[name] += group[f"present_{self.header.index(name)}"]
        for name in self.schema.columns:
            i = self.header.index(name)
            if group.get(f"bad_{i}"):
                count, value = self.bad.get(name, (0, group[f"bad_value_{i}"]))
                self.bad[name] = (count + group[f"bad_{i}"], min(value, group[f"bad_value_{i}"]))
        if split == self.source:
            self.candidates += group["first_lines"]

    def finish(self, key: str | None) -> None:
        """The refusals, each a DataError, in the local prepare's order."""
        path, label = self.path, self.schema.label
        if self.broken:
            raise DataError(
                f"{path}: {self.broken} row(s) have a value with a line break, but the trainer "
                "reads a row per line; remove the line breaks inside the values"
            )
        for name, (count, value) in self.bad.items():
            kind = self.schema.feature_kinds.get(name) or self.schema.label_kind
            raise DataError(
                f"{path}: column '{name}' has {count} value(s) such as {value!r}, but the "
                f"project's schema reads '{name}' as {kind.value_words}; correct them (NA if "
                "missing), or apply the schema `make schema` proposes for this data"
            )
        if self.report.rows_read == 0:
            raise DataError(f"{path}: no rows; add the rows to prepare")
        kept = self.report.rows_read - self.report.rows_dropped
        if kept == 0:
            raise DataError(
                f"{path}: none of its {self.report.rows_read} rows has a '{label}' value; the "
                "label column is empty"
            )
        if self.no_key:
            raise DataError(
                f"{path}: {self.no_key} labelled row(s) have no value in the key column "
                f"'{key}'; give every row a key, or split without --key"
            )
        for split in ("train", "eval"):
            if self.rows.get(split) == 0:
                raise DataError(
                    f"{path}: none of the {kept} labelled rows falls in {split}; add rows, or "
                    f"change --{split}-fraction"
                )
        unseen = [name for name, count in self.present_in_train.items() if count == 0]
        if "train" in self.rows and unseen:
            raise DataError(
                f"{path}: column(s) {', '.join(unseen)} have no value in any of the "
                f"{self.rows['train']} training rows; fill them in, or leave them out of the "
                "features (apply the schema `make schema` proposes)"
            )
        if self.schema.is_classification:
            self._check_classes(kept)

    def _check_classes(self, kept: int) -> None:
        path, label = self.path, self.schema.label
        every = set().union(*self.classes.values())
        if len(every) == 1:
            raise DataError(
                f"{path}: the label '{label}' has a single class ({next(iter(every))!r}) in all "
                f"{kept} labelled rows: a classifier needs at least two; choose another label "
                "(make schema LABEL=...), or add rows of the other classes"
            )
        trained = self.classes.get("train", set())
        unseen = sorted(self.classes.get("eval", set()) - trained)
        if trained and unseen:
            raise DataError(
                f"{path}: the label value {unseen[0]!r} falls in eval but in no training row, "
                "and a model cannot learn a class it never sees; add rows of it, or leave them "
                "out"
            )

    def instances(self) -> InstancePicker:
        """The instances' rows: the first of each class, then others, by their key's digest."""
        picker = InstancePicker(self.header.index(self.schema.label))
        for candidate in sorted(self.candidates):
            _, _, line = candidate.partition(",")
            picker.add(None, next(csv.reader([line])))
        return picker
