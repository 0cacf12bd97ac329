"""The questionnaire: every validator refuses bad answers with a message naming the question and
the rule, and nothing is written; the column-name rule is the data preparation's."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, VENV_BIN, choices, copier_config, render, run

sys.path.insert(0, str(ROOT / "template"))
from workflow.data.reading import USABLE_NAME

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
    ("datetime_features", "[bill_length_mm]", "'bill_length_mm' is already a numeric feature"),
    ("datetime_features", "2024-05-31", NOT_A_LIST),
    ("categorical_features", "[island, bill_length_mm]", "'bill_length_mm' is already a numeric"),
    ("categorical_features", "[$(whoami)]", UNUSABLE),
    ("max_vocabulary", -1, "a whole number >= 0, not -1"),
    ("numeric_buckets", 101, "a whole number from 0 to 100, not 101"),
    ("numeric_buckets", -1, "a whole number from 0 to 100, not -1"),
    ("task_type", "ranking", "'ranking' is not in ['classification', 'regression']"),
    ("model_type", "xgboost", "'xgboost' is not in ['linear', 'dnn', 'wide_deep']"),
    ("scale_tier", "BASIC_TPU_POD", "'BASIC_TPU_POD' is not in ['BASIC', 'STANDARD_1',"),
    ("container", "docker", "'docker' is not in ['custom', 'prebuilt']"),
]
LIST_ANSWERS = ("numeric_features", "datetime_features", "categorical_features")


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
    usable = USABLE_NAME.fullmatch(name) is not None
    dest = tmp_path / "project"
    assert copier_accepts(template, dest, {"label_column": name}) == usable
    assert copier_accepts(template, dest, {"numeric_features": [name]}) == usable
    assert copier_accepts(template, dest, {"categorical_features": [name]}) == usable
    assert not dest.exists()


def test_the_column_names_cover_both_outcomes():
    outcomes = [USABLE_NAME.fullmatch(name) is not None for name in COLUMN_NAMES]
    assert outcomes == [True, True, False, False, False, False, False, True, False]


def test_no_features_at_all_is_refused(template, tmp_path):
    with pytest.raises(ValueError, match="the model needs at least one feature"):
        render(template, tmp_path / "p", numeric_features=[], categorical_features=[])


def test_a_date_is_a_feature_of_one_kind_and_may_be_the_only_one(template, tmp_path):
    with pytest.raises(ValueError, match="'island' is already a datetime feature"):
        render(template, tmp_path / "p", datetime_features=["island"], pretend=True)
    dates_alone = {"numeric_features": [], "categorical_features": []}
    assert copier_accepts(template, tmp_path / "p", {"datetime_features": ["day"], **dates_alone})


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


# ---------------------------------------------------------------- answers that must submit

IMAGES = "us-docker.pkg.dev/vertex-ai/training"
# Each combination that cannot submit, the question that refuses it, and the reason it gives.
PREBUILT = {"container": "prebuilt"}
SEVERAL_MACHINES = "the trainer's multi-worker fix (trainer/keras_compat.py) is proven on the"
CANNOT_SUBMIT = [
    (PREBUILT | {"scale_tier": "STANDARD_1"}, "container", "cannot run the STANDARD_1 tier"),
    (PREBUILT | {"scale_tier": "PREMIUM_1"}, "container", "cannot run the PREMIUM_1 tier"),
    (PREBUILT | {"scale_tier": "CUSTOM"}, "container", "cannot run the CUSTOM tier"),
    (PREBUILT | {"scale_tier": "BASIC_TPU"}, "container", "BASIC_TPU tier needs the custom"),
    (
        PREBUILT | {"executor_image": "gcr.io/my-team/trainer:1"},
        "executor_image",
        "does not say which TensorFlow it runs",
    ),
    (
        PREBUILT | {"executor_image": f"{IMAGES}/tf-cpu.2-15.py310:latest"},
        "executor_image",
        "runs TensorFlow 2.15, which the trainer is not tested on as a prebuilt image "
        "(tested: 2.17)",
    ),
    (
        PREBUILT | {"executor_image": f"{IMAGES}/tf-gpu.2-17.py310:latest"},
        "executor_image",
        f"is a GPU image: name its CPU twin, {IMAGES}/tf-cpu.2-17.py310:latest",
    ),
]


@pytest.mark.parametrize(
    ("answers", "question", "message"),
    CANNOT_SUBMIT,
    ids=[f"{q}-{a.get('scale_tier', a.get('executor_image'))}" for a, q, _ in CANNOT_SUBMIT],
)
def test_answers_that_cannot_submit_are_refused_with_the_reason(
    template, tmp_path, answers, question, message
):
    with pytest.raises(ValueError, match=f"'{question}'") as error:
        render(template, tmp_path / "project", pretend=True, **answers)
    assert message in " ".join(str(error.value).split())
    if question == "container":
        assert "Choose container custom" in str(error.value)
    assert not (tmp_path / "project").exists()


def submit_dry_run(project: Path, script: str) -> subprocess.CompletedProcess:
    """`scripts/SCRIPT --dry-run` on the project's default tier, with an empty gcloud config."""
    return run(
        ["bash", f"scripts/{script}", "--dry-run"],
        cwd=project,
        env={
            "CLOUDSDK_CONFIG": str(project.parent / "gcloud"),
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "PYTHON": str(VENV_BIN / "python"),
        },
        check=False,
    )


def test_every_tier_a_prebuilt_project_accepts_submits(template, tmp_path):
    """The questionnaire's word is the scripts' word: each default tier that it accepts with the
    prebuilt container renders a project whose submit and tuning dry runs pass on that tier,
    with the image of the tier (the GPU tier: the tf-gpu twin)."""
    accepted = []
    for tier in choices("scale_tier"):
        answers = PREBUILT | {"scale_tier": tier}
        try:
            render(template, tmp_path / f"pretend-{tier}", pretend=True, **answers)
        except ValueError:
            continue
        accepted.append(tier)
        project = render(template, tmp_path / tier / "project", **answers)
        image = copier_config()["executor_image"]["default"]
        if tier == "BASIC_GPU":
            image = image.replace("/tf-cpu.", "/tf-gpu.")
        for script in ("submit.sh", "hptune.sh"):
            result = submit_dry_run(project, script)
            assert result.returncode == 0, f"{tier} {script}: {result.stderr}"
            assert result.stdout.startswith(f"# Dry run: {tier} on Vertex AI"), result.stdout
            assert f"executorImageUri: {image}" in result.stdout, result.stdout
    assert accepted == ["BASIC", "BASIC_GPU"]


def test_a_prebuilt_project_pins_its_images_tensorflow(template, tmp_path):
    project = render(template, tmp_path / "project", **PREBUILT)
    pins = copier_config()["prebuilt_tensorflow"]["default"]["2.17"]
    requirements = (project / "requirements.txt").read_text()
    for line in (
        f"tensorflow-cpu=={pins['tensorflow']};",
        f"tensorflow=={pins['tensorflow']};",
        f"tensorboard=={pins['tensorboard']}\n",
        f"keras=={pins['keras']}\n",
        f"# tpu: tensorflow-tpu=={pins['tensorflow_tpu']} tensorboard=={pins['tensorboard']}\n",
    ):
        assert f"\n{line}" in requirements, line
    # Everything else is the custom container's requirements.txt, as it is.
    versions = re.compile(r"==[0-9][^;\s]*")
    own = [versions.sub("", line) for line in requirements.splitlines() if "==" in line]
    template_pins = (ROOT / "template/requirements.txt").read_text().splitlines()
    assert own == [versions.sub("", line) for line in template_pins if "==" in line]


def test_a_custom_project_gets_the_templates_requirements_as_they_are(default_project):
    assert (default_project / "requirements.txt").read_bytes() == (
        ROOT / "template/requirements.txt"
    ).read_bytes()


# ---------------------------------------------------------------- what copier prints after a copy

PENGUIN_HEADER = (ROOT / "template/data/penguins.csv").read_text().splitlines()[0].split(",")


def test_the_sample_columns_are_the_samples():
    """copier.yml's sample_columns, by kind, are data/penguins.csv's header: numbers are the
    columns whose every value is a number or NA."""
    with (ROOT / "template/data/penguins.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    numbers = [
        name
        for name in PENGUIN_HEADER
        if all(re.fullmatch(r"-?[0-9.]+|NA", row[name]) for row in rows)
    ]
    kinds = copier_config()["sample_columns"]["default"]
    assert sorted(kinds["number"]) == sorted(numbers)
    assert sorted(kinds["number"] + kinds["text"]) == sorted(PENGUIN_HEADER)


def copy_message(template: Path, dest: Path, cwd: Path | None = None, **answers) -> str:
    """What `copier copy` prints after the copy, from `cwd` (the template as given, relative
    or not)."""
    data = [f"--data={key}={value}" for key, value in answers.items()]
    result = run(
        [
            str(VENV_BIN / "copier"),
            "copy",
            "--trust",
            "--defaults",
            *data,
            f"{template}",
            f"{dest}",
        ],
        cwd=cwd,
    )
    return result.stderr


HOUSES = {
    "task_type": "regression",
    "label_column": "price",
    "numeric_features": "[rooms, area_m2]",
    "categorical_features": "[city]",
}


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(HOUSES, id="other-columns"),
        pytest.param({"categorical_features": "[island, colour]"}, id="one-other-feature"),
        pytest.param({"task_type": "regression"}, id="regression-of-a-text-label"),
        pytest.param(
            {"numeric_features": "[island]", "categorical_features": "[sex]"},
            id="text-as-a-number",
        ),
    ],
)
def test_a_schema_that_is_not_the_samples_starts_with_make_prepare(template, tmp_path, answers):
    message = copy_message(template, tmp_path / "project", **answers)
    steps = [line.split("#")[0].strip() for line in message.splitlines() if "make " in line]
    assert steps == [
        "make install",
        "make prepare RAW_DATA=path/to/your.csv",
        "make train",
        "make predict",
    ], message


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param({}, id="penguins"),
        pytest.param(
            {
                "task_type": "regression",
                "label_column": "body_mass_g",
                "numeric_features": "[bill_length_mm, flipper_length_mm]",
                "categorical_features": "[sex]",
            },
            id="penguins-regression",
        ),
    ],
)
def test_a_schema_within_the_sample_trains_on_it_at_once(template, tmp_path, answers):
    message = copy_message(template, tmp_path / "project", **answers)
    steps = [line.split("#")[0].strip() for line in message.splitlines() if "make " in line]
    assert steps == ["make install", "make train", "make predict"], message
    assert "Note:" not in message, message


def test_a_copy_from_a_relative_template_path_says_how_to_update(template, tmp_path):
    """Copier records the path as given; `copier update` reads it from the project, where a
    path relative to the folder of the copy leads nowhere."""
    (tmp_path / "work").mkdir()
    relative = os.path.relpath(template, tmp_path / "work")
    message = copy_message(Path(relative), Path("project"), cwd=tmp_path / "work")
    words = " ".join(message.split())
    assert f"records the template as '{relative}', a relative path" in words
    assert "Set _src_path in .copier-answers.yml to the template's git URL" in words
