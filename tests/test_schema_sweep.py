"""A sweep of schemas that the questionnaire accepts: each is rendered, its data prepared from a
raw CSV file made for it (missing values written three ways, a column the schema leaves out),
its config edited as a team would, and its own `make test` must pass.

Every run checks the same six cases (the team's machine type is drawn with a fixed seed):
together they take 0 to 6 numeric and 0 to 4 categorical columns, a date column with times and
one of dates alone, 2 classes, 3 and 12, a
regression label near 1e6, 40 rows and 2,000, and every task type with every model family. The
first case is the project of issue 21, whose metrics test failed. This is where the template's
tests run the generated suite on the trainer's code (tests/test_render.py lints every render).
"""

from __future__ import annotations

import csv
import datetime
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import VENV_BIN, leaving_out, render, run

SEED = 21
pytestmark = pytest.mark.long

MAKE_VENV = f"VENV={VENV_BIN.parent}"
# One run of the generated suite: stop at the first failure, in one process.
PYTEST_ADDOPTS = "-x -q -p no:cacheprovider -p no:xdist"
# Generated tests whose outcome cannot depend on the schema, the data or config/tiers.yaml: what
# ships, labels, following jobs, the entry point, the local sweep's logic, and reading gs:// in a
# process of its own. The first case runs them; the others leave them out.
SCHEMA_FREE = (
    "tests/test_shipping.py",
    "tests/test_labels.py",
    "tests/test_jobs.py",
    "tests/test_entry.py",
    "tests/test_sweep.py",
    "tests/test_task.py::test_an_unreadable_gs_file_is_one_error_line_naming_it_and_the_cause",
    "tests/test_kinds.py",
    "tests/test_dates.py",
    "tests/test_hashing.py",
    "tests/test_buckets.py",
)
# Cell values that mean "missing", as pandas, R and spreadsheets write them.
MISSING = ("", "NA", "NaN")
# BASIC as the template renders it, and the machines a team might give it instead.
BASIC = "BASIC:  # a single worker\n  chief:\n    machineType: n1-standard-4\n"
TEAM_MACHINES = ("n1-standard-16", "n1-highmem-8", "e2-standard-32", "n2-highcpu-32")


@dataclass(frozen=True)
class Case:
    task_type: str
    classes: int  # 0 for regression
    numeric: int
    categorical: int
    rows: int
    model_type: str
    machine: str  # the team's machine type for the BASIC tier
    dates: str = ""  # a datetime feature's values: "" none, "date", "datetime" (with a time)

    @property
    def id(self) -> str:
        task = f"{self.classes}-classes" if self.classes else "regression-1e6"
        dates = f"-{self.dates}" if self.dates else ""
        return (
            f"{task}-{self.numeric}num-{self.categorical}cat{dates}-{self.rows}rows-"
            f"{self.model_type}"
        )


def _cases() -> list[Case]:
    """Issue 21's project, then five more: together they take every task type with every model
    family once, features of one kind only (numbers; categories, for each task type), a date
    column with times and one of dates alone, and the counts above. The team's machine for BASIC
    is drawn with SEED."""
    rng = random.Random(SEED)
    # (task type, classes, numeric, categorical, rows, model type, dates): many classes need
    # enough rows for each to reach the split.
    kinds = [
        ("classification", 3, 3, 2, 2000, "dnn", ""),
        ("classification", 2, 0, 4, 40, "wide_deep", "date"),
        ("classification", 12, 5, 0, 2000, "linear", ""),
        ("regression", 0, 1, 1, 40, "dnn", ""),
        ("regression", 0, 6, 3, 2000, "linear", "datetime"),
        ("regression", 0, 0, 2, 2000, "wide_deep", ""),
    ]
    machines = ["n1-standard-16", *(rng.choice(TEAM_MACHINES) for _ in kinds[1:])]
    return [
        Case(*kind[:-1], machine=machine, dates=kind[-1])
        for kind, machine in zip(kinds, machines, strict=True)
    ]


def write_raw_csv(path: Path, case: Case, seed: int) -> dict:
    """A raw CSV file for `case` whose label depends on its features; returns the answers that
    declare its schema. Columns come in a shuffled order, with an unused one among them."""
    rng = random.Random(seed)
    numeric = [f"num_{i}" for i in range(case.numeric)]
    categorical = [f"cat_{i}" for i in range(case.categorical)]
    dates = ["when"] if case.dates else []
    levels = {name: [f"{name}_v{j}" for j in range(2 + i)] for i, name in enumerate(categorical)}
    classes = [f"class_{k}" for k in range(case.classes)]
    rows = []
    for i in range(case.rows):
        row, score = {"note": f"row {i}, kept out"}, 0.0
        for j, name in enumerate(numeric):
            z = rng.gauss(0, 1)
            score += z
            row[name] = f"{(10**j) * (3 + z):.4f}"  # scales from 1 to 1e5
        for name in categorical:
            value = rng.randrange(len(levels[name]))
            score += value / len(levels[name]) - 0.5
            row[name] = levels[name][value]
        for name in dates:  # the season carries signal
            day = datetime.date(2020, 1, 1) + datetime.timedelta(days=rng.randrange(1500))
            score += math.sin(2 * math.pi * day.timetuple().tm_yday / 365)
            hour = f"T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00"
            row[name] = day.isoformat() + (hour if case.dates == "datetime" else "")
        for name in numeric + categorical + dates:
            if rng.random() < 0.08:
                row[name] = rng.choice(MISSING)
        if case.classes:
            # The score's quantiles, roughly: a standard logistic spread over the classes.
            share = 1 / (1 + math.exp(-score / math.sqrt(case.numeric + 1)))
            row["target"] = classes[min(int(share * case.classes), case.classes - 1)]
        else:
            row["target"] = f"{1e6 + 5e4 * score:.2f}"
        if rng.random() < 0.02:  # prepare drops the row
            row["target"] = rng.choice(MISSING)
        rows.append(row)
    columns = ["note", *numeric, *categorical, *dates, "target"]
    rng.shuffle(columns)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return {
        "task_type": case.task_type,
        "label_column": "target",
        "numeric_features": numeric,
        "categorical_features": categorical,
        "datetime_features": dates,
        "model_type": case.model_type,
    }


@pytest.mark.parametrize("case", _cases(), ids=lambda case: case.id)
def test_the_generated_suite_passes_on_a_prepared_project(case, template, tmp_path):
    answers = write_raw_csv(tmp_path / "raw.csv", case, seed=SEED)
    project = render(template, tmp_path / "project", **answers)
    # The team's edit that config/tiers.yaml invites: the tests must follow it.
    tiers_file = project / "config/tiers.yaml"
    assert BASIC in tiers_file.read_text()
    tiers_file.write_text(
        tiers_file.read_text().replace(BASIC, BASIC.replace("n1-standard-4", case.machine))
    )

    run(["make", "--silent", "prepare", MAKE_VENV, f"RAW_DATA={tmp_path / 'raw.csv'}"], cwd=project)
    assert (project / "data/stats.json").is_file()
    addopts = PYTEST_ADDOPTS
    if case != _cases()[0]:
        addopts += leaving_out(project, SCHEMA_FREE)
    result = run(
        ["make", "--silent", "test", MAKE_VENV], cwd=project, env={"PYTEST_ADDOPTS": addopts}
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert re.match(r"\d+ passed", summary) and "failed" not in summary, result.stdout
