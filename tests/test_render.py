"""The answer matrix: every task type and model family, with and without each kind of feature,
the prebuilt container and every scale tier, renders a project that is free of Jinja and passes
ruff and shellcheck; a prebuilt project passes its own tests on its own pins; and copier's
choices and the rendered config name what the trainer and the scripts take. (The generated
suite runs on the custom container's pins in tests/test_schema_sweep.py, over a sweep of
schemas that takes every task type with every model family.)"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import (
    QUALITY_TESTS,
    TEST_CACHE,
    VENV_BIN,
    cache_lock,
    choices,
    copier_config,
    leaving_out,
    render,
    run,
)

PENGUIN_NUMBERS = [
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
]
# Regression predicts body mass from the other measurements.
REGRESSION = {
    "task_type": "regression",
    "label_column": "body_mass_g",
    "numeric_features": PENGUIN_NUMBERS[:3],
}


def _matrix() -> list:
    """The answer sets whose config is checked against the trainer too."""
    cases = []
    for task_type in choices("task_type"):
        for model_type in choices("model_type"):
            answers = {"task_type": task_type, "model_type": model_type}
            if task_type == "regression":
                answers |= REGRESSION
            cases.append(pytest.param(answers, id=f"{task_type}-{model_type}"))
    cases += [
        pytest.param({"categorical_features": []}, id="classification-numeric-only"),
        pytest.param(
            {"numeric_features": [], "model_type": "wide_deep"},
            id="classification-categorical-only",
        ),
        pytest.param(
            REGRESSION | {"numeric_features": [], "model_type": "linear"},
            id="regression-categorical-only",
        ),
        # Both of the release's options off, as the update leaves a project made before it.
        pytest.param(
            {"model_type": "wide_deep", "numeric_buckets": 0, "max_vocabulary": 0},
            id="classification-wide_deep-options-off",
        ),
    ]
    return cases


def _lint_only() -> list:
    """The answer sets checked for Jinja, ruff and shellcheck alone: every other scale tier
    (they change config and docs, not the trainer), the prebuilt container (its own test below)
    and a schema of one column of each kind."""
    default = copier_config()["scale_tier"]["default"]
    return [
        pytest.param({"scale_tier": tier}, id=f"tier-{tier}")
        for tier in choices("scale_tier")
        if tier != default
    ] + [
        pytest.param({"container": "prebuilt"}, id="container-prebuilt"),
        # A one-name tuple is formatted on one line: features.py's layout differs.
        pytest.param(
            {
                "numeric_features": ["bill_length_mm"],
                "datetime_features": ["observed_on"],
                "categorical_features": ["island"],
            },
            id="one-feature-of-each-kind",
        ),
    ]


# A Jinja expression starts with a name ({{ bucket }}); a Python f-string's escaped brace
# ({{"key": ...}}) and a GitHub Actions expression (${{ ... }}) are not leftovers.
JINJA_LEFTOVER = re.compile(r"(?<!\$)\{\{-?\s*[A-Za-z_]|\{%|%\}|\{#")


@pytest.fixture(scope="module")
def rendered(template, tmp_path_factory):
    """Renders each answer set once for the whole module."""
    projects: dict[str, Path] = {}

    def project_for(answers: dict) -> Path:
        key = json.dumps(answers, sort_keys=True)
        if key not in projects:
            projects[key] = render(template, tmp_path_factory.mktemp("matrix") / "p", **answers)
        return projects[key]

    return project_for


@pytest.fixture(params=_matrix(), scope="module")
def project(request, rendered):
    return rendered(request.param)


@pytest.fixture(params=_matrix() + _lint_only(), scope="module")
def any_project(request, rendered):
    return rendered(request.param)


def test_nothing_of_jinja_is_left(any_project):
    for path in any_project.rglob("*"):
        if ".git" in path.parts or not path.is_file():
            continue
        assert path.suffix != ".jinja", f"{path} kept its .jinja suffix"
        text = path.read_text(errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            assert not JINJA_LEFTOVER.search(line), f"{path}:{number}: {line}"


def test_ruff_passes(any_project):
    run([str(VENV_BIN / "ruff"), "check", "--no-cache", "."], cwd=any_project)
    run([str(VENV_BIN / "ruff"), "format", "--check", "--no-cache", "."], cwd=any_project)


def test_shellcheck_passes(any_project):
    scripts = [
        str(path)
        for path in any_project.rglob("*")
        if path.is_file()
        and ".git" not in path.parts
        and (path.suffix == ".sh" or path.read_bytes().startswith(b"#!/usr/bin/env bash"))
    ]
    if not scripts:
        pytest.skip("the project has no shell scripts")
    run([str(VENV_BIN / "shellcheck"), *scripts], cwd=any_project)


# ---------------------------------------------------------------- one place per fact
# Copier's choices and the rendered config cannot read the trainer, so these hold them equal.


def project_python(project, code: str) -> str:
    """What `code` prints, run with the project's own packages importable."""
    return run([str(VENV_BIN / "python"), "-c", code], cwd=project).stdout


def test_the_tuning_metric_is_the_task_types_default(project):
    """config/hptuning.yaml's metric is the one trainer/trial.py reports by default for the task
    type, with the goal the tuning config's check expects."""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    study = yaml.safe_load((project / "config/hptuning.yaml").read_text())["studySpec"]
    (metric,) = study["metrics"]
    printed = project_python(
        project,
        "import json; from trainer.trial import TUNING_METRICS; "
        "from workflow.cloud.hptuning import metric_goal; "
        "print(json.dumps({k: [v, metric_goal(v[0])] for k, v in TUNING_METRICS.items()}))",
    )
    metrics, goal = json.loads(printed)[answers["task_type"]]
    assert metric == {"metricId": metrics[0], "goal": goal}


def test_the_tier_choices_are_the_tiers_of_tiers_yaml(default_project):
    presets = yaml.safe_load((default_project / "config/tiers.yaml").read_text())
    assert choices("scale_tier") == list(presets)


def test_the_model_type_choices_are_the_trainers(default_project):
    printed = project_python(
        default_project, "from trainer.hparams import MODEL_TYPES; print(list(MODEL_TYPES))"
    )
    assert repr(choices("model_type")) == printed.strip(), (
        "copier.yml's model_type choices must be trainer/hparams.py's MODEL_TYPES, in order. A new "
        "family is its function <name>_outputs in template/trainer/model.py, its name in "
        "MODEL_TYPES (template/trainer/hparams.py), and its choice in copier.yml"
    )


def test_the_feature_questions_are_the_trainers_kinds(default_project):
    """Each feature kind of trainer/kinds/ has its copier question, `<kind>_features`, which
    trainer/features.py renders as the schema's field of that kind."""
    printed = project_python(
        default_project,
        "import json; from trainer.kinds import KINDS; print(json.dumps([k.name for k in KINDS]))",
    )
    kinds = json.loads(printed)
    questions = [name for name in copier_config() if name.endswith("_features")]
    assert questions == [f"{kind}_features" for kind in kinds], (
        "copier.yml's <kind>_features questions must be trainer/kinds' KINDS, in order. A new "
        "kind is its module in template/trainer/kinds/, its entry in KINDS, its question in "
        "copier.yml and its field in template/trainer/features.py.jinja"
    )
    features = (default_project / "trainer" / "features.py").read_text()
    assert all(f"\n    {kind}=" in features for kind in kinds), features


REQUIREMENTS_FILES = ("requirements.txt", "requirements-dev.txt")


@pytest.mark.long
def test_a_prebuilt_project_passes_its_tests_on_its_own_pins(rendered):
    """A prebuilt project pins its image's TensorFlow and a Keras for the image's Python:
    `make install` builds a virtualenv of those pins, and `make test` passes on it. The
    virtualenv is kept between runs while requirements-dev.txt and requirements.txt are the
    same (TEST_CACHE): `make install` then only checks that it holds them."""
    project = rendered({"container": "prebuilt"})
    pins_text = "".join((project / name).read_text() for name in REQUIREMENTS_FILES)
    venv = TEST_CACHE / f"prebuilt-dev-{hashlib.sha256(pins_text.encode()).hexdigest()[:12]}"
    with cache_lock(venv.name):
        run(["make", "--silent", "install", f"VENV={venv}"], cwd=project, timeout=1800)
    printed = run(
        [
            str(venv / "bin/python"),
            "-c",
            "from importlib.metadata import version as v; "
            "print(v('tensorflow-cpu'), v('keras'), v('tensorboard'))",
        ],
        cwd=project,
    ).stdout.split()
    requirements = (project / "requirements.txt").read_text()
    pins = [
        re.search(rf"^{name}==([^;\s]+)", requirements, re.M)[1]
        for name in ("tensorflow-cpu", "keras", "tensorboard")
    ]
    assert printed == pins
    release = copier_config()["prebuilt_tensorflow"]["default"]["2.17"]
    assert pins == [release["tensorflow"], release["keras"], release["tensorboard"]]
    result = run(
        ["make", "--silent", "test", f"VENV={venv}"],
        cwd=project,
        env={"PYTEST_ADDOPTS": leaving_out(project, QUALITY_TESTS)},
        timeout=1800,
    )
    assert re.search(r"\d+ passed", result.stdout), result.stdout
