"""The schema proposal (`make schema`): the task type and the features for a label, from a
description of the CSV file, with the reason each other column is left out, and the copier
answers that apply it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from trainer.csv_reader import DataError
from trainer.kinds import DATETIME, KINDS
from trainer.kinds.datetime import FORMATS
from trainer.schema import Schema
from workflow.data.describe import ColumnStats, Description, name_words
from workflow.data.reading import USABLE_NAME
from workflow.data.settings import settings

# The proposal's thresholds (MAX_DISTINCT, MAX_WORDS, TIME_WORDS, ID_WORDS, MAX_INTEGER_CLASSES,
# MAX_SENSIBLE_CLASSES) are the settings in config/data.yaml's schema_proposal.


@dataclass
class Proposal:
    """Features proposed for a label, as the copier answers that render trainer/features.py."""

    label: str
    task_type: str
    task_reason: str
    features: dict[str, list[str]]  # kind name -> its columns, for every kind of KINDS
    left_out: dict[str, str]  # column -> why it is not a feature
    notes: dict[str, str] = field(default_factory=dict)  # feature -> what its kind says of it
    warnings: list[str] = field(default_factory=list)

    def answers(self) -> dict[str, object]:
        return {
            "task_type": self.task_type,
            "label_column": self.label,
            **{kind.answer: self.features[kind.name] for kind in KINDS},
        }

    def answers_yaml(self) -> str:
        """A copier --data-file. Column names are plain identifiers, so no YAML quoting."""
        lines = []
        for key, value in self.answers().items():
            lines.append(
                f"{key}: [{', '.join(value)}]" if isinstance(value, list) else f"{key}: {value}"
            )
        return "\n".join(lines) + "\n"

    def copier_command(self, copier: str) -> str:
        parts = [shlex.quote(copier), "update", "--trust", "--defaults"]
        for key, value in self.answers().items():
            text = f"[{', '.join(value)}]" if isinstance(value, list) else value
            parts += ["--data", shlex.quote(f"{key}={text}")]
        return " ".join(parts)


def _left_out_reason(stats: ColumnStats) -> str | None:
    """Why a column should not be a feature, or None when it looks like one. The first rule
    that applies gives the reason; the last are those of the kind it would be (trainer/kinds)."""
    rows = stats.count + stats.missing
    words = name_words(stats.name)
    config = settings()
    kind = stats.proposed_kind()
    rules = (
        (
            not USABLE_NAME.fullmatch(stats.name),
            "not a usable name (letters, digits and underscores, starting with a letter)",
        ),
        (stats.count == 0, "no values"),
        (stats.missing > rows / 2, f"mostly missing ({stats.missing} of {rows} rows)"),
        (stats.distinct == 1, "a single value in every row"),
        (
            # A date in ISO 8601 is a datetime feature; one written otherwise is left out.
            bool(words & config.time_words) and kind is not DATETIME,
            "a date or time (when a row was recorded, not what it is), not in ISO 8601 "
            f"({FORMATS}), which a datetime feature takes",
        ),
        # An identifier whose values repeat is a category (kind, above); one per row names rows.
        (stats.id_named and stats.all_distinct, "an identifier, a different value in every row"),
    )
    why = next((why for applies, why in rules if applies), None)
    return why or kind.left_out_reason(stats)


def _too_many_classes(target: ColumnStats) -> list[str]:
    """A warning when a classification label has more classes than it has examples to learn
    them from: an identifier or a name column (all or nearly all values distinct) as the label."""
    distinct = target.distinct
    if distinct is not None and distinct <= min(settings().max_sensible_classes, target.count / 2):
        return []
    many = f"more than {target.max_distinct}" if distinct is None else str(distinct)
    instead = (
        "set task_type=regression if it is a quantity, or choose another label"
        if target.numeric
        else "choose another column as the label (LABEL=...): one with fewer classes, or a "
        "number to predict by regression"
    )
    return [
        f"the label '{target.name}' has {many} classes in {target.count} rows: too few rows per "
        f"class to learn them, as for an identifier or free text; {instead}"
    ]


def propose_schema(description: Description, label: str, schema: Schema) -> Proposal:
    """Features of each kind for `label`, from a description of the CSV file; `schema`, the
    project's, gives the kinds' settings (a category with more values than its max_vocabulary
    is noted as hashed)."""
    if label not in (c.name for c in description.columns):
        names = ", ".join(c.name for c in description.columns)
        raise DataError(
            f"{description.path}: the label column '{label}' is not in the header ({names})"
        )
    if not USABLE_NAME.fullmatch(label):
        raise DataError(f"the label column '{label}' is not a usable name for the trainer")
    target = description.column(label)
    if target.count == 0:
        raise DataError(f"{description.path}: the label column '{label}' has no values")
    warnings = []
    most = settings().max_integer_classes
    if target.numeric and not (target.integer and (target.distinct or 0) <= most):
        task_type, reason = "regression", "the label is a number"
    else:
        shown = ", ".join(sorted(target.values)[:most])
        task_type, reason = "classification", f"the label has {target.distinct} classes: {shown}"
        warnings += _too_many_classes(target)
        if target.distinct == 1:
            warnings.append(
                f"the label '{label}' has a single class: a classifier needs at least two, and "
                "`make prepare` and training refuse it; choose another label (LABEL=...)"
            )
    features: dict[str, list[str]] = {kind.name: [] for kind in KINDS}
    left_out, notes = {}, {}
    for stats in description.columns:
        if stats.name == label:
            continue
        why = _left_out_reason(stats)
        if why:
            left_out[stats.name] = why
            continue
        kind = stats.proposed_kind()
        features[kind.name].append(stats.name)
        note = kind.proposal_note(stats, schema)
        if note:
            notes[stats.name] = note
    if not any(features.values()):
        raise DataError(f"{description.path}: no column looks usable as a feature of '{label}'")
    return Proposal(label, task_type, reason, features, left_out, notes, warnings)


def proposal_text(proposal: Proposal, path: str, data_file: str | None, copier: str) -> str:
    lines = [
        f"Proposed schema for {path} (label: {proposal.label}):",
        f"  {'task_type':<22}{proposal.task_type} ({proposal.task_reason})",
        *(
            f"  {kind.answer:<22}{', '.join(proposal.features[kind.name]) or '(none)'}"
            for kind in KINDS
        ),
    ]
    for column, note in proposal.notes.items():
        lines.append(f"  {'note':<22}{column}: {note}")
    for column, why in proposal.left_out.items():
        lines.append(f"  left out              {column}: {why}")
    lines += [f"warning: {warning}" for warning in proposal.warnings]
    lines += [
        "",
        "The copier answers render trainer/features.py. Commit your work first (copier update",
        "merges into a clean git tree), then apply the proposal with:",
    ]
    if data_file:
        lines.append(
            f"  {shlex.quote(copier)} update --trust --defaults --data-file "
            f"{shlex.quote(data_file)}"
        )
    else:
        lines.append(f"  {proposal.copier_command(copier)}")
    return "\n".join(lines)
