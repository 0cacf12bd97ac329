"""The questionnaire: every validator refuses bad answers with a message naming the question and
the rule, and nothing is written; the column-name rule is the data preparation's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, copier_config, render

sys.path.insert(0, str(ROOT / "template"))
from workflow import data

# Each bad answer, with the message of the rule it breaks.
CONTROL = "must not contain backquotes, dollar signs, backslashes, double quotes"
PROJECT_ID = "is not a GCP project id: 6-30 characters"
REGION = "is not a Vertex AI training region. Choose one of: africa-south1,"
BUCKET_NAME = "is not a valid bucket name: 3-63 characters"
GOOGLE = "is not allowed: names may not start with 'goog' or contain 'google'"
UNUSABLE = (
    "is not a usable column name: use letters, digits and underscores, starting with a letter"
)
NOT_A_LIST = "must be a YAML list of column names, such as [age, income] or []"
BAD_ANSWERS = [
    ("project_name", "!!!", "must contain at least one letter or digit"),
    ("project_name", "Penguins $(rm -rf ~)", CONTROL),
    ("project_name", "Penguins `id`", CONTROL),
    ("project_name", 'Say "hi"', CONTROL),
    ("project_name", "x" * 61, "must be at most 60 characters"),
    ("gcp_project", "My-Project", PROJECT_ID),
    ("gcp_project", "short", PROJECT_ID),
    ("gcp_project", "1starts-with-digit", PROJECT_ID),
    ("gcp_project", "ends-with-hyphen-", PROJECT_ID),
    ("gcp_project", "a" * 31, PROJECT_ID),
    ("gcp_project", "proj;rm -rf", PROJECT_ID),
    ("region", "us-central", REGION),
    ("region", "US-CENTRAL1", REGION),
    ("region", "mars-north1", REGION),
    ("region", "us", REGION),
    ("bucket", "My-Bucket", BUCKET_NAME),
    ("bucket", "ab", BUCKET_NAME),
    ("bucket", "b" * 64, BUCKET_NAME),
    ("bucket", "goog-data", GOOGLE),
    ("bucket", "my-google-data", GOOGLE),
    ("bucket", "-starts-with-hyphen", BUCKET_NAME),
    ("bucket", "192.168.1.1", "is not allowed: names may not look like an IP address"),
    ("bucket", "bucket$(id)", BUCKET_NAME),
    ("bucket", "two..dots", "is not allowed: dots may not be next to another dot or a hyphen"),
    ("label_column", "my label", UNUSABLE),
    ("label_column", "it's", UNUSABLE),
    ("label_column", 'say"what', UNUSABLE),
    ("label_column", "col;rm", UNUSABLE),
    ("label_column", "9lives", UNUSABLE),
    ("label_column", "x" * 65, "is too long for a column name: use at most 64 characters"),
    ("numeric_features", "[bill length]", UNUSABLE),
    ("numeric_features", '["bill\'length"]', UNUSABLE),
    ("numeric_features", "[a, a]", "lists a column more than once"),
    ("numeric_features", "[species]", "'species' is the label column and cannot also be a feature"),
    ("numeric_features", "not-a-list", NOT_A_LIST),
    ("numeric_features", "{a: 1}", NOT_A_LIST),
    ("categorical_features", "[island, bill_length_mm]", "'bill_length_mm' is already a numeric"),
    ("categorical_features", "[$(whoami)]", UNUSABLE),
    ("task_type", "ranking", "'ranking' is not in ['classification', 'regression']"),
    ("model_type", "xgboost", "'xgboost' is not in ['linear', 'dnn', 'wide_deep']"),
    ("scale_tier", "BASIC_TPU_POD", "'BASIC_TPU_POD' is not in ['BASIC', 'STANDARD_1',"),
    ("container", "docker", "'docker' is not in ['custom', 'prebuilt']"),
]
LIST_ANSWERS = ("numeric_features", "categorical_features")


@pytest.mark.parametrize(("question", "answer", "message"), BAD_ANSWERS)
def test_a_bad_answer_is_refused_naming_the_question_and_the_rule(
    template, tmp_path, question, answer, message
):
    # The list answers arrive as YAML text, as with --data.
    data = {question: yaml.safe_load(answer) if question in LIST_ANSWERS else answer}
    with pytest.raises(ValueError, match=f"'{question}'") as error:
        render(template, tmp_path / "project", **data)
    assert message in str(error.value)
    assert not (tmp_path / "project").exists(), "a refused answer still wrote files"


# Column names at the edges of the rule, the same for copier's answers and for the data
# preparation (which proposes the answers): letters, digits and underscores, starting with a
# letter, at most 64 characters.
COLUMN_NAMES = ["a", "A1_b", "1a", "_a", "a-b", "a b", "é", "x" * 64, "x" * 65]


def copier_accepts(template: Path, dest: Path, answers: dict) -> bool:
    """Whether copier takes the answers (validated only: nothing is written)."""
    try:
        render(template, dest, pretend=True, **answers)
    except ValueError as error:
        assert "column name" in str(error), error  # refused by the name rule, not another
        return False
    return True


@pytest.mark.parametrize("name", COLUMN_NAMES, ids=lambda name: f"{name[:8]}-{len(name)}")
def test_copier_and_the_data_preparation_share_one_column_name_rule(template, tmp_path, name):
    usable = data.USABLE_NAME.fullmatch(name) is not None
    dest = tmp_path / "project"
    assert copier_accepts(template, dest, {"label_column": name}) == usable
    assert copier_accepts(template, dest, {"numeric_features": [name]}) == usable
    assert copier_accepts(template, dest, {"categorical_features": [name]}) == usable
    assert not dest.exists()


def test_the_column_names_cover_both_outcomes():
    outcomes = [data.USABLE_NAME.fullmatch(name) is not None for name in COLUMN_NAMES]
    assert outcomes == [True, True, False, False, False, False, False, True, False]


def test_no_features_at_all_is_refused(template, tmp_path):
    with pytest.raises(ValueError, match="the model needs at least one feature"):
        render(template, tmp_path / "p", numeric_features=[], categorical_features=[])


def test_every_question_has_help_and_a_default():
    for name, question in copier_config().items():
        if name.startswith("_") or question.get("when") is False:
            continue
        assert question.get("help"), f"{name} has no help"
        assert "default" in question, f"{name} has no default"


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("project_name", "Ann's Penguins & Co. (v2)"),
        ("gcp_project", "abcdef"),
        ("gcp_project", "a" * 30),
        ("region", "europe-west4"),
        ("bucket", "my_bucket.v2-data"),
        ("label_column", "Species_2"),
    ],
)
def test_edge_of_valid_answers_is_accepted(template, tmp_path, question, answer):
    project = render(template, tmp_path / "project", **{question: answer})
    assert answer in (project / ".copier-answers.yml").read_text().replace("''", "'")
