"""`make prepare`: clean, split, instances and stats file in one pass over the raw file, each row
checked against the project's schema as it goes by, and every output switched in at the end."""

from __future__ import annotations

import argparse
import re
import shlex
from contextlib import ExitStack
from pathlib import Path

from trainer.csv_reader import CsvFile, DataError, missing_columns
from trainer.kinds import KINDS
from trainer.schema import Schema
from workflow.bigquery import MANIFEST_NAME
from workflow.data.clean import MISSING, CleanReport, clean_rows
from workflow.data.picking import InstancePicker, write_instances
from workflow.data.reading import USABLE_NAME, column_index, project_schema, read_csv
from workflow.data.settings import split_percents
from workflow.data.split import Splitter, split_lines, write_splits
from workflow.data.swap import Staging


def _schema_fix(path: str) -> str:
    """The fix `prepare` names when the data do not fit the project's schema."""
    return (
        f"apply the schema that `make schema RAW_DATA={shlex.quote(path)}` proposes for this "
        "file (copier update), or rename the columns as trainer/features.py declares them"
    )


def check_columns(path: str, header: list[str], schema: Schema, label: str) -> None:
    """Before anything is written: the label is the schema's, and every column the schema
    declares is in the header (of the file, or the table, at `path`) under a name the trainer
    can use."""
    if label != schema.label:
        raise DataError(
            f"--label {label}: the project's schema (trainer/features.py) reads the label "
            f"'{schema.label}'; apply the proposal of `make schema "
            f"RAW_DATA={shlex.quote(path)} LABEL={label}` first (copier update), then "
            "prepare without --label"
        )
    if label not in header:
        raise DataError(
            f"{path}: the label column '{label}' is not in the header "
            f"({', '.join(header)}); {_schema_fix(path)}"
        )
    missing = [name for name in schema.columns if name not in header]
    if missing:
        # A declared column under a name the trainer cannot use ('bill length', 'se-x').
        def letters(name: str) -> str:
            return re.sub(r"[^0-9a-z]", "", name.lower())

        renames = {
            wanted: name
            for name in header
            if not USABLE_NAME.fullmatch(name)
            for wanted in missing
            if letters(wanted) == letters(name)
        }
        fixes = [
            f"'{name}' is not a usable column name: rename it {wanted}"
            for wanted, name in renames.items()
        ]
        if set(missing) - set(renames):
            fixes.append(_schema_fix(path))
        raise missing_columns(path, header, missing, "; ".join(fixes))
    unusable = [name for name in schema.columns if not USABLE_NAME.fullmatch(name)]
    if unusable:
        raise DataError(
            f"{path}: column(s) {', '.join(repr(n) for n in unusable)} are not usable "
            "names (letters, digits and underscores, starting with a letter: the serving "
            "signature names its inputs after them); rename them in the CSV file and in the "
            "schema (copier update)"
        )


class PrepareChecks:
    """What `prepare` checks of each cleaned row before it is written (a value of its kind in
    every feature column, such as a number in a numeric one, and in the label of a regression),
    and of the whole once every row is read: rows in each split, values in each training column,
    two classes or more, and no evaluation label that training never sees. Each refusal names
    the raw file, and the line where there is one. Memory: the label's classes, not the rows."""

    def __init__(self, csv_file: CsvFile, schema: Schema, splits: list[str]):
        self.path = csv_file.path
        self.schema = schema
        header = csv_file.header
        self.typed_columns = [
            (header.index(name), name, kind) for kind in KINDS for name in schema.read_as(kind)
        ]
        self.label_index = header.index(schema.label)
        self.rows = dict.fromkeys(splits, 0)
        self.unseen = {header.index(name): name for name in schema.features}  # in training
        self.classes: dict[str, dict[str, int]] = {name: {} for name in splits}  # first lines

    def __call__(self, line: int, fields: list[str], split: str) -> None:
        for index, name, kind in self.typed_columns:
            value = fields[index]
            if value != MISSING and not kind.accepts_cell(value):
                raise DataError(
                    f"{self.path}, line {line}: column '{name}' has the value {value!r}, but the "
                    f"project's schema reads '{name}' as {kind.value_words}; correct the value (NA "
                    "if it is missing), or apply the schema `make schema` proposes for this file"
                )
        self.rows[split] += 1
        if split == "train" and self.unseen:
            for index in [i for i in self.unseen if fields[i] != MISSING]:
                del self.unseen[index]
        if self.schema.is_classification:
            self.classes[split].setdefault(fields[self.label_index], line)

    def finish(self, report: CleanReport) -> None:
        label = self.schema.label
        if report.rows_read == 0:
            raise DataError(
                f"{self.path}, line 1: a header and no data rows after it; add the rows to prepare"
            )
        kept = report.rows_read - report.rows_dropped
        if kept == 0:
            raise DataError(
                f"{self.path}: none of its {report.rows_read} rows has a '{label}' value; "
                "the label column is empty"
            )
        for split in ("train", "eval"):
            if self.rows.get(split) == 0:
                raise DataError(
                    f"{self.path}: none of the {kept} labelled rows falls in {split}.csv; add "
                    f"rows, or change --{split}-fraction"
                )
        if "train" in self.rows and self.unseen:
            raise DataError(
                f"{self.path}: column(s) {', '.join(self.unseen.values())} have no value in "
                f"any of the {self.rows['train']} training rows; fill them in, or leave them "
                "out of the features (apply the schema `make schema` proposes)"
            )
        if not self.schema.is_classification:
            return
        every = {c: line for classes in self.classes.values() for c, line in classes.items()}
        if len(every) == 1:
            raise DataError(
                f"{self.path}: the label '{label}' has a single class ({next(iter(every))!r}) "
                f"in all {kept} labelled rows: a classifier needs at least two; choose another "
                "label (make schema LABEL=...), or add rows of the other classes"
            )
        trained = self.classes.get("train", {})
        unseen = {c: line for c, line in self.classes.get("eval", {}).items() if c not in trained}
        if trained and unseen:
            value, line = min(unseen.items(), key=lambda item: item[1])
            raise DataError(
                f"{self.path}, line {line}: the label value {value!r} falls in eval.csv but in no "
                "training row, and a model cannot learn a class it never sees; add rows of it, "
                "or leave them out"
            )


def prepare(args: argparse.Namespace) -> list[str]:
    """Clean, split, instances and stats file, checked as the rows go by and switched in at the
    end: a refusal leaves the previous split, instances and stats file as they were."""
    from workflow import split_stats  # noqa: PLC0415 -- numpy (+0.1 s): prepare's alone

    schema = project_schema()
    label = args.label or schema.label
    percents = split_percents(args.train_fraction, args.eval_fraction, args.test_fraction)
    out_dir = Path(args.out_dir)
    instances = Path(args.instances or out_dir / "instances.json")
    with ExitStack() as stack:
        csv_file = read_csv(args.input, stack)
        check_columns(csv_file.path, csv_file.header, schema, label)
        key_index = column_index(csv_file, args.key, "key") if args.key else None
        splitter = Splitter(percents, key_index)
        splits = [name for _, name in splitter.cuts]
        checks = PrepareChecks(csv_file, schema, splits)
        # The instances come from held-out rows: eval.csv, else test.csv (else train.csv).
        source = next(name for name in ("eval", "test", "train") if name in splits)
        picker = InstancePicker(checks.label_index)
        report = CleanReport()

        def check(line: int, fields: list[str], split: str) -> None:
            checks(line, fields, split)
            if split == source:
                picker.add(line, fields)

        staging = stack.enter_context(Staging())
        result = write_splits(
            csv_file.path,
            csv_file.header,
            clean_rows(csv_file, label, report),
            splitter,
            out_dir,
            staging=staging,
            shard_counts={"train": args.shards, "eval": args.eval_shards},
            check=check,
        )
        checks.finish(report)
        staging.files.close()  # complete, for the stats' scan
        lines = [
            *report.lines(args.input, label),
            *split_lines(result),
            write_instances(
                csv_file.path,
                csv_file.header,
                picker,
                result[source][0][0],
                instances,
                schema=schema,
                staging=staging,
            ),
        ]
        lines += split_stats.write_for_split(result, out_dir, schema, staging)
        if (out_dir / MANIFEST_NAME).exists():  # the cloud jobs read this split from now on
            staging.remove(out_dir / MANIFEST_NAME)
        staging.switch()
    return lines
