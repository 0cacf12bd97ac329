"""The check of `make predict`'s input (workflow/instances.py): every problem of an instances file
named by line and key, and a missing model named with what to run, before gcloud sees either.

The unit tests use a synthetic schema of their own, so that they hold whatever dataset the project
was generated for; the rest use the project's schema, as `make predict` does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.features import SCHEMA
from trainer.schema import Schema
from workflow import instances
from workflow.data import cli

from conftest import synthetic_rows, write_csv

PROJECT = Path(__file__).resolve().parent.parent
HOUSES = Schema(
    label="price", task_type="regression", numeric=("rooms", "area"), categorical=("city",)
)
GOOD = {"rooms": 3, "area": 71.5, "city": "Lyon"}


def _problems(tmp_path: Path, *lines: str) -> list[str]:
    path = tmp_path / "instances.json"
    path.write_text("".join(f"{line}\n" for line in lines))
    return instances.file_problems(path, HOUSES)


def _line(**changes: object) -> str:
    """GOOD with some values changed, and keys whose value is ... removed."""
    instance = {**GOOD, **changes}
    return json.dumps({key: value for key, value in instance.items() if value is not ...})


def test_a_missing_value_is_null_for_a_number_and_empty_for_a_category(tmp_path):
    assert _problems(tmp_path, _line(), _line(rooms=None, area=None, city="")) == []


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (_line(city=...), "no key 'city': every feature needs one (\"\" when missing)"),
        (_line(rooms=...), "no key 'rooms': every feature needs one (null when missing)"),
        (_line(cty="Lyon"), "'cty' is not a feature of the model (did you mean 'city'?)"),
        (
            _line(year=2024),
            "'year' is not a feature of the model (its features: rooms, area, city)",
        ),
        (_line(price=1000), "'price' is the label, which the model predicts: leave it out"),
        (
            _line(area="71.5"),
            "'area' is a numeric feature, but its value is the string \"71.5\": "
            "write a number, or null when it is missing",
        ),
        (
            _line(rooms=True),
            "'rooms' is a numeric feature, but its value is the boolean true: "
            "write a number, or null when it is missing",
        ),
        (
            _line(city=None),
            "'city' is a categorical feature, but its value is null: "
            'write a string, or "" when it is missing',
        ),
        (
            _line(city=7),
            "'city' is a categorical feature, but its value is the number 7: "
            'write a string, or "" when it is missing',
        ),
        (
            _line(city=["Lyon"]),
            "'city' is a categorical feature, but its value is an array: "
            'write a string, or "" when it is missing',
        ),
        (
            _line().replace("71.5", "NaN"),
            "'area' is a numeric feature, but its value is NaN, which is not JSON: "
            "write a number, or null when it is missing",
        ),
        (
            json.dumps([3, 71.5, "Lyon"]),
            'an array, not a JSON object of feature values such as {"rooms": ...}',
        ),
        (
            '{"rooms": 3,}',
            "not JSON (Expecting property name enclosed in double quotes, column 13)",
        ),
    ],
    ids=[
        "missing category",
        "missing number",
        "misspelt key",
        "unknown key",
        "label",
        "string for a number",
        "boolean for a number",
        "null for a category",
        "number for a category",
        "array for a category",
        "NaN",
        "not an object",
        "not JSON",
    ],
)
def test_each_problem_is_named_with_its_line_and_key(tmp_path, line, problem):
    assert _problems(tmp_path, _line(), line) == [
        f"{tmp_path / 'instances.json'}, line 2: {problem}"
    ]


def test_every_problem_of_the_file_is_listed_in_line_order(tmp_path):
    path = tmp_path / "instances.json"
    assert _problems(tmp_path, _line(city=None), "", _line(rooms="3", cty="Lyon", city=...)) == [
        f"{path}, line 1: 'city' is a categorical feature, but its value is null: "
        'write a string, or "" when it is missing',
        f"{path}, line 2: blank; gcloud refuses blank lines in an instances file",
        f"{path}, line 3: 'rooms' is a numeric feature, but its value is the string \"3\": "
        "write a number, or null when it is missing",
        f"{path}, line 3: no key 'city': every feature needs one (\"\" when missing)",
        f"{path}, line 3: 'cty' is not a feature of the model (did you mean 'city'?)",
    ]


def test_an_empty_or_absent_file_is_named(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    assert instances.file_problems(empty, HOUSES) == [
        f"{empty}: no instances; write one JSON object a line"
    ]
    absent = tmp_path / "absent.json"
    assert instances.file_problems(absent, HOUSES) == [
        f"{absent}: no such file; `make prepare` writes one (or set INSTANCES=...)"
    ]


def test_the_instances_of_make_prepare_pass(tmp_path):
    rows = synthetic_rows(SCHEMA, 200, seed=11)
    for row in rows[::2]:  # missing values of every kind, which prepare writes as null and ""
        row.update(dict.fromkeys(SCHEMA.features, "NA"))
    out = tmp_path / "out"
    source = write_csv(tmp_path / "raw.csv", rows)
    assert cli.main(["prepare", str(source), "--out-dir", str(out)]) == 0
    assert instances.file_problems(out / "instances.json", SCHEMA) == []


def _data_holds_the_schemas_columns() -> bool:
    with (PROJECT / "data/train.csv").open() as f:
        return set(SCHEMA.columns) <= set(f.readline().strip().split(","))


@pytest.mark.skipif(
    not _data_holds_the_schemas_columns(),
    reason="data/ holds the penguins sample, not the schema's columns: `make prepare` on the "
    "project's own table writes its instances",
)
def test_the_instances_in_data_pass():
    assert instances.file_problems(PROJECT / "data/instances.json", SCHEMA) == []


def test_a_model_directory_without_an_export_says_to_train_first(tmp_path, trained):
    _, job_dir = trained
    assert instances.model_problems(str(job_dir / "model")) == []  # what Keras' export writes
    absent = tmp_path / "job/model"
    assert instances.model_problems(str(absent)) == [
        f"{absent}: no exported model here; run `make train` first (or set JOB_DIR)"
    ]
    absent.mkdir(parents=True)
    assert instances.model_problems(str(absent)) == [
        f"{absent} holds no saved_model.pb, so it is not an exported model; "
        "run `make train` first (or set JOB_DIR)"
    ]


def test_the_command_line_lists_every_problem_and_exits_non_zero(tmp_path):
    bad = tmp_path / "instances.json"
    bad.write_text(f"{json.dumps(dict.fromkeys(SCHEMA.features[1:], None))}\n[]\n")
    model_dir = tmp_path / "job/model"
    result = subprocess.run(
        [sys.executable, "-m", "workflow.instances", str(bad), "--model-dir", str(model_dir)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""  # make predict's standard output is gcloud's predictions alone
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors[0] == (
        f"error: {model_dir}: no exported model here; run `make train` first (or set JOB_DIR)"
    )
    assert f"error: {bad}, line 1: no key '{SCHEMA.features[0]}'" in errors[1]
    assert errors[-1].startswith(f"error: {bad}, line 2: an array, not a JSON object")
    assert result.stderr.splitlines()[-1].startswith(
        "note: each line is one JSON object with every feature: "
    )
