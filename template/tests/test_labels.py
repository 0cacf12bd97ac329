"""The labels of every job, tuning job and image build: Vertex AI's label rules, the trainer's
commit and whether its files changed, and who submitted."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from workflow.cloud import labels
from workflow.cloud.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = load_settings(ROOT / "config", environ={})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Ann's Penguins & Co. (v2)", "ann-s-penguins-co-v2"),
        ("Ann.Lee+ML@Example.com", "ann-lee-ml-example-com"),
        ("under_score-kept", "under_score-kept"),
        ("x" * 80, "x" * 63),
    ],
)
def test_text_becomes_a_label_value(text, value):
    assert labels.label_value(text) == value


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"Team": "ml"}, "label 'Team' is not a label key"),
        ({"9team": "ml"}, "label '9team' is not a label key"),
        ({"team": "Machine Learning"}, "value 'Machine Learning' of label team is not a label"),
        ({f"k{i}": "v" for i in range(65)}, "65 labels; Vertex AI takes at most 64"),
    ],
)
def test_labels_outside_vertex_ais_rules_are_refused(given, message):
    with pytest.raises(ConfigError, match=message):
        labels.check(given, "config/cloud.yaml: labels")


def test_yaml_values_become_text():
    assert labels.check({"night": True, "team": 7, "empty": None}, "x") == {
        "night": "true",
        "team": "7",
        "empty": "",
    }


def git(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=Ann", "-c", "user.email=ann@example.com", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_the_commit_and_whether_the_trainers_files_changed(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(
        ROOT / "trainer", project / "trainer", ignore=shutil.ignore_patterns("__pycache__")
    )
    (project / "notes.txt").write_text("beside the trainer\n")
    assert labels.trainer_commit(project) == ("none", True)  # not a repository
    git(project, "init", "-q")
    assert labels.trainer_commit(project) == ("none", True)  # no commit yet
    git(project, "add", "-A")
    git(project, "commit", "-qm", "first")
    head = git(project, "rev-parse", "HEAD").strip()
    assert labels.trainer_commit(project) == (head, False)
    (project / "notes.txt").write_text("changed, but it does not ship\n")
    assert labels.trainer_commit(project) == (head, False)
    (project / "trainer/new_module.py").write_text("X = 1\n")
    assert labels.trainer_commit(project) == (head, True)


def test_every_job_is_labelled_with_the_project_its_commit_and_who_submitted(tmp_path):
    found = labels.project_labels(replace(SETTINGS, labels={"team": "ml"}), tmp_path, tier="basic")
    assert list(found) == ["project", "tier", "commit", "dirty", "submitter", "team"]
    assert found["project"] == labels.label_value(SETTINGS.display_name)
    assert (found["tier"], found["commit"], found["dirty"], found["team"]) == (
        "basic",
        "none",
        "true",
        "ml",
    )
    assert labels.KEY.fullmatch("submitter") and labels.VALUE.fullmatch(found["submitter"])
    assert labels.gcloud_flag({"a": "1", "b": "x-y"}) == "a=1,b=x-y"
    assert labels.build_tags({"a": "1", "b": ""}) == ["a.1", "b"]


def test_the_teams_labels_cannot_take_the_scripts_keys(tmp_path):
    with pytest.raises(ConfigError, match="labels: commit is set by the scripts"):
        labels.project_labels(replace(SETTINGS, labels={"commit": "mine"}), tmp_path)
