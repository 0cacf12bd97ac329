"""The questionnaire: every validator refuses bad answers with a message naming the question,
and nothing is written."""

from __future__ import annotations

import pytest

from conftest import copier_config, render

BAD_ANSWERS = [
    ("project_name", "!!!"),
    ("project_name", "Penguins $(rm -rf ~)"),
    ("project_name", "Penguins `id`"),
    ("project_name", 'Say "hi"'),
    ("project_name", "x" * 61),
    ("gcp_project", "My-Project"),
    ("gcp_project", "short"),
    ("gcp_project", "1starts-with-digit"),
    ("gcp_project", "ends-with-hyphen-"),
    ("gcp_project", "a" * 31),
    ("gcp_project", "proj;rm -rf"),
    ("region", "us-central"),
    ("region", "US-CENTRAL1"),
    ("region", "mars-north1"),
    ("region", "us"),
    ("bucket", "My-Bucket"),
    ("bucket", "ab"),
    ("bucket", "b" * 64),
    ("bucket", "goog-data"),
    ("bucket", "my-google-data"),
    ("bucket", "-starts-with-hyphen"),
    ("bucket", "192.168.1.1"),
    ("bucket", "bucket$(id)"),
    ("bucket", "two..dots"),
    ("label_column", "my label"),
    ("label_column", "it's"),
    ("label_column", 'say"what'),
    ("label_column", "col;rm"),
    ("label_column", "9lives"),
    ("numeric_features", "[bill length]"),
    ("numeric_features", '["bill\'length"]'),
    ("numeric_features", "[a, a]"),
    ("numeric_features", "[species]"),  # the label
    ("numeric_features", "not-a-list"),
    ("numeric_features", "{a: 1}"),
    ("categorical_features", "[island, bill_length_mm]"),  # already numeric
    ("categorical_features", "[$(whoami)]"),
    ("task_type", "ranking"),
    ("model_type", "xgboost"),
    ("scale_tier", "BASIC_TPU_POD"),
    ("container", "docker"),
]


@pytest.mark.parametrize(("question", "answer"), BAD_ANSWERS)
def test_a_bad_answer_is_refused_naming_the_question(template, tmp_path, question, answer):
    data = {question: answer}
    if question in ("numeric_features", "categorical_features"):
        import yaml  # noqa: PLC0415 -- the list answers arrive as YAML text, as with --data

        data[question] = yaml.safe_load(answer)
    with pytest.raises(ValueError, match=f"'{question}'") as error:
        render(template, tmp_path / "project", **data)
    assert question in str(error.value)
    assert not (tmp_path / "project").exists(), "a refused answer still wrote files"


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
