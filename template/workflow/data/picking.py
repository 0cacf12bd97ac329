"""Picking the instances: the few held-out rows that `prepare` writes as instances.json, the input
of `make predict`, in the form the serving signature takes (workflow/instances.py checks such a
file)."""

from __future__ import annotations

import json
from pathlib import Path

from trainer.csv_reader import DataError
from trainer.schema import Schema
from workflow.data.clean import MISSING
from workflow.data.swap import Staging

# Evaluation rows that `prepare` writes to instances.json: one of each class, where they differ.
INSTANCE_COUNT = 3


class InstancePicker:
    """Up to `count` rows, as they go by: the first of each label value in file order, then the
    earliest others, so that a classifier's instances show its classes."""

    def __init__(self, label_index: int, count: int = INSTANCE_COUNT):
        self.label_index, self.count = label_index, count
        self.firsts: list[tuple[int | None, list[str]]] = []
        self.others: list[tuple[int | None, list[str]]] = []
        self.labels: set[str] = set()

    def add(self, line: int | None, fields: list[str]) -> None:
        if len(self.firsts) == self.count:
            return
        if fields[self.label_index] not in self.labels:
            self.labels.add(fields[self.label_index])
            self.firsts.append((line, fields))
        elif len(self.others) < self.count:
            self.others.append((line, fields))

    @property
    def rows(self) -> list[tuple[int | None, list[str]]]:
        return (self.firsts + self.others)[: self.count]


def to_instance(
    path: str, header: list[str], line: int | None, fields: list[str], schema: Schema
) -> dict:
    """A cleaned row as the serving signature takes it: every feature, in the file's column
    order, each value as its kind writes it (trainer/kinds). A missing number is null; a missing
    category is "" (the signature refuses null for a string, and a missing key)."""
    kinds = schema.feature_kinds
    instance: dict[str, object] = {}
    for name, value in zip(header, fields, strict=True):
        if name not in kinds:
            continue
        try:
            instance[name] = kinds[name].instance_value(None if value == MISSING else value)
        except ValueError as err:
            where = path if line is None else f"{path}, line {line}"
            raise DataError(
                f"{where}: column '{name}' has {err}, but the project's "
                f"schema reads it as {kinds[name].value_words}"
            ) from None
    return instance


def write_instances(
    path: str,
    header: list[str],
    picked: InstancePicker,
    source: Path | str,
    target: Path,
    *,
    schema: Schema,
    staging: Staging,
) -> str:
    """Writes the rows `picked` from the prepared `source` to `target` (at the staging's switch),
    one JSON object a line, as `make predict` sends them. Returns the report's line."""
    instances = [to_instance(path, header, line, fields, schema) for line, fields in picked.rows]
    with staging.open(target) as f:
        f.writelines(json.dumps(instance, allow_nan=False) + "\n" for instance in instances)
    return f"{target}: {len(instances)} instance(s) from {source}, for `make predict`"
