"""The template's lifecycle: `copier update` brings a new release into a project without losing
the team's edits, a rename ships a migration that carries those edits along, an answer changed
on update (a new task type) reaches the generated config the team has edited, and the generated
CI lints, tests, and looks for newer releases.

Each history is a snapshot of the working tree tagged OLD, then a release made here (NEW) that
changes code, adds a file and renames tests/test_task.py with its migration, as a real release
would. Projects are copied at OLD, committed, and updated with the `copier` CLI, as a team would.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import TEMPLATE_TAG, VENV_BIN, render, run, snapshot_template

OLD = TEMPLATE_TAG
NEW = "v999.1.0"
GIT = ["git", "-c", "user.name=team", "-c", "user.email=team@example.com"]
RENAMED_FROM, RENAMED_TO = "tests/test_task.py", "tests/test_job.py"
CONFLICT_MARKERS = ("<<<<<<< before updating", "=======", ">>>>>>> after updating")

# What the release NEW changes, each one line or file, recognizable in the updated project.
TEMPLATE_MODEL_DOC = '"""(Revised in the template) '
TEMPLATE_TASK_DOC = '"""(The job, as the template now words it) '
TEMPLATE_TEST_DOC = '"""(Moved by the template) '
TEMPLATE_NEW_FILE = ("CONTRIBUTING.md", "# Contributing\n\nRun `make lint test` before a push.\n")
TEMPLATE_SAMPLE_ROW = "Adelie,Dream,40.0,18.0,190,3700,female,2009\n"
TEMPLATE_NOTES = "\nThe template's own advice, added in a later release.\n"

# What the team changes in its project after the first copy.
TEAM_MODEL_DOC = '"""(Our team\'s model) '
TEAM_FUNCTION = '\n\ndef team_report(metrics: dict) -> str:\n    return f"team: {metrics}"\n'
TEAM_DEFAULT = ("default=defaults.num_epochs,", "default=50,  # the team trains longer")
TEAM_FILE = ("trainer/team_metrics.py", '"""The team\'s own metrics."""\n\nTHRESHOLD = 0.8\n')
TEAM_SAMPLE_ROW = "Gentoo,Biscoe,50.1,15.2,222,5300,male,2009\n"
TEAM_NOTES = "\n2025-01-10: learning rate 0.01 diverges on the full data.\n"
TEAM_DELETED_SAMPLE = "data/penguins.csv"  # the team keeps only its own split
TEAM_TEST = (
    "\n\ndef test_team_trains_longer_by_default():\n"
    '    assert task.build_parser().get_default("num_epochs") == 50\n'
)


def edit(path: Path, transform) -> None:
    path.write_text(transform(path.read_text()))


def prefix_docstring(prefix: str):
    """A transform that starts the module docstring on line 1 with `prefix` (which opens it)."""

    def transform(text: str) -> str:
        assert text.startswith('"""'), "expected a module docstring on line 1"
        return prefix + text[3:]

    return transform


def replace_once(old: str, new: str):
    def transform(text: str) -> str:
        assert text.count(old) == 1, f"expected {old!r} once"
        return text.replace(old, new)

    return transform


def append(extra: str):
    return lambda text: text + extra


def git(repo: Path, *args: str) -> str:
    return run([*GIT, *args], cwd=repo).stdout


def release_new_version(repo: Path, *, touches_team_files: bool) -> None:
    """Commits and tags NEW in a snapshot repo: a release that edits model.py and task.py, adds
    a file, and renames RENAMED_FROM with the migration that carries the team's edits. With
    `touches_team_files`, it also changes the sample data and NOTES.md, which are the team's."""
    rendered = repo / "template"
    edit(rendered / "trainer/model.py", prefix_docstring(TEMPLATE_MODEL_DOC))
    edit(rendered / "trainer/task.py", prefix_docstring(TEMPLATE_TASK_DOC))
    (rendered / TEMPLATE_NEW_FILE[0]).write_text(TEMPLATE_NEW_FILE[1])
    git(repo, "mv", f"template/{RENAMED_FROM}", f"template/{RENAMED_TO}")
    edit(rendered / RENAMED_TO, prefix_docstring(TEMPLATE_TEST_DOC))
    if touches_team_files:
        edit(rendered / "data/train.csv", append(TEMPLATE_SAMPLE_ROW))
        edit(rendered / "NOTES.md", append(TEMPLATE_NOTES))
    config = yaml.safe_load((repo / "copier.yml").read_text())
    config["_migrations"] = [
        *(config.get("_migrations") or []),
        {
            "version": NEW,
            "command": [
                "bash",
                "{{ _copier_conf.src_path }}/hooks/carry-renamed-file.sh",
                RENAMED_FROM,
                RENAMED_TO,
            ],
            "when": "{{ _stage == 'after' }}",
        },
    ]
    (repo / "copier.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"release {NEW}")
    git(repo, "tag", NEW)


def template_history(tmp_path_factory, name: str, *, touches_team_files: bool) -> Path:
    repo = snapshot_template(tmp_path_factory.mktemp(name), tag=OLD)
    release_new_version(repo, touches_team_files=touches_team_files)
    return repo


def copy_and_commit(template: Path, dest: Path) -> Path:
    """`copier copy` at OLD, then the first commit, as the generated README asks."""
    render(template, dest, vcs_ref=OLD)
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "generated from the template")
    return dest


def copier_update(project: Path, *extra: str) -> None:
    """`copier update --trust --defaults` (to the latest tag), as a team runs it."""
    run([str(VENV_BIN / "copier"), "update", "--trust", "--defaults", *extra], cwd=project)


def answers(project: Path) -> dict:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def files_with_conflict_markers(project: Path) -> list[str]:
    found = []
    for path in project.rglob("*"):
        if ".git" in path.parts or not path.is_file():
            continue
        lines = path.read_text(errors="replace").splitlines()
        if any(line.startswith(CONFLICT_MARKERS[0]) for line in lines):
            found.append(path.relative_to(project).as_posix())
    return found


# ---------------------------------------------------------------- a project the team has edited


@pytest.fixture(scope="module")
def edited(tmp_path_factory):
    """A project copied at OLD, edited and committed by the team, then updated to NEW.
    Returns the project, the team's committed files (path -> text) read before the update, and
    the template."""
    template = template_history(tmp_path_factory, "edited-history", touches_team_files=True)
    project = copy_and_commit(template, tmp_path_factory.mktemp("edited") / "project")

    edit(project / "trainer/model.py", prefix_docstring(TEAM_MODEL_DOC))  # overlaps the release
    edit(project / "trainer/model.py", append(TEAM_FUNCTION))
    edit(project / "trainer/task.py", replace_once(*TEAM_DEFAULT))
    (project / TEAM_FILE[0]).write_text(TEAM_FILE[1])
    edit(project / "data/train.csv", append(TEAM_SAMPLE_ROW))
    edit(project / "NOTES.md", append(TEAM_NOTES))
    edit(project / RENAMED_FROM, append(TEAM_TEST))
    (project / TEAM_DELETED_SAMPLE).unlink()
    git(project, "add", "-A")
    git(project, "commit", "-qm", "the team's edits")
    before = {
        name: (project / name).read_text()
        for name in (TEAM_FILE[0], "data/train.csv", "NOTES.md", RENAMED_FROM)
    }

    copier_update(project)
    return project, before, template


@pytest.mark.xdist_group("update-edited")
def test_update_moves_commit_to_the_new_tag(edited):
    project, _, _ = edited
    assert answers(project)["_commit"] == NEW


@pytest.mark.xdist_group("update-edited")
def test_non_overlapping_edits_survive_beside_the_release(edited):
    project, before, _ = edited
    model = (project / "trainer/model.py").read_text()
    assert model.endswith(TEAM_FUNCTION)

    task = (project / "trainer/task.py").read_text()
    assert TEAM_DEFAULT[1] in task
    assert TEAM_DEFAULT[0] not in task
    assert task.startswith(TEMPLATE_TASK_DOC)  # the release's own edit of the same file

    assert (project / TEAM_FILE[0]).read_text() == before[TEAM_FILE[0]]
    assert (project / TEMPLATE_NEW_FILE[0]).read_text() == TEMPLATE_NEW_FILE[1]


@pytest.mark.xdist_group("update-edited")
def test_team_owned_files_are_never_overwritten(edited):
    """The release changed the sample data and NOTES.md too; the team's versions stay."""
    project, before, _ = edited
    for name in ("data/train.csv", "NOTES.md"):
        assert (project / name).read_text() == before[name], name
    assert TEMPLATE_SAMPLE_ROW not in (project / "data/train.csv").read_text()
    assert not (project / TEAM_DELETED_SAMPLE).exists()  # and a deleted sample stays deleted


@pytest.fixture(scope="module")
def recopied(tmp_path_factory):
    """A project copied at OLD, whose team edited its data, notes and model, then `copier recopy`
    to NEW: the way out when an update cannot replay, which renders the template afresh."""
    template = template_history(tmp_path_factory, "recopy-history", touches_team_files=True)
    project = copy_and_commit(template, tmp_path_factory.mktemp("recopied") / "project")
    edit(project / "data/train.csv", append(TEAM_SAMPLE_ROW))
    edit(project / "NOTES.md", append(TEAM_NOTES))
    edit(project / "trainer/model.py", append(TEAM_FUNCTION))
    git(project, "add", "-A")
    git(project, "commit", "-qm", "the team's edits")
    before = {name: (project / name).read_text() for name in ("data/train.csv", "NOTES.md")}
    run([str(VENV_BIN / "copier"), "recopy", "--trust", "--defaults", "--overwrite"], cwd=project)
    return project, before


@pytest.mark.xdist_group("update-recopy")
def test_recopy_keeps_the_team_files_but_not_code_edits(recopied):
    project, before = recopied
    assert answers(project)["_commit"] == NEW
    for name in ("data/train.csv", "NOTES.md"):
        assert (project / name).read_text() == before[name], name
    # Recopy renders the code afresh: the README sends the team to `git diff` for its edits.
    assert TEAM_FUNCTION not in (project / "trainer/model.py").read_text()
    assert "team_report" in git(project, "diff", "trainer/model.py")


@pytest.mark.xdist_group("update-edited")
def test_an_overlapping_edit_is_an_inline_conflict(edited):
    project, _, _ = edited
    lines = (project / "trainer/model.py").read_text().splitlines()
    start = lines.index(CONFLICT_MARKERS[0])
    middle = lines.index(CONFLICT_MARKERS[1], start)
    end = lines.index(CONFLICT_MARKERS[2], middle)
    ours, theirs = lines[start + 1 : middle], lines[middle + 1 : end]
    assert [line for line in ours if line.startswith(TEAM_MODEL_DOC)], ours
    assert [line for line in theirs if line.startswith(TEMPLATE_MODEL_DOC)], theirs
    # Only that file conflicts, and git lists it as unmerged, as after a `git merge`.
    assert files_with_conflict_markers(project) == ["trainer/model.py"]
    unmerged = git(project, "diff", "--name-only", "--diff-filter=U").split()
    assert unmerged == ["trainer/model.py"]


@pytest.mark.xdist_group("update-edited")
def test_the_rename_migration_carries_the_team_edits(edited):
    project, before, _ = edited
    assert not (project / RENAMED_FROM).exists()
    moved = (project / RENAMED_TO).read_text()
    assert moved.startswith(TEMPLATE_TEST_DOC)  # the release's version of the file...
    assert moved.endswith(TEAM_TEST)  # ...with the team's test carried over
    expected = before[RENAMED_FROM].replace('"""', TEMPLATE_TEST_DOC, 1)
    assert moved == expected


@pytest.mark.xdist_group("update-edited")
def test_the_rename_migration_is_idempotent(edited):
    project, _, template = edited
    carried = (project / RENAMED_TO).read_text()
    run(
        ["bash", str(template / "hooks/carry-renamed-file.sh"), RENAMED_FROM, RENAMED_TO],
        cwd=project,
        env={"VERSION_FROM": OLD},
    )
    assert (project / RENAMED_TO).read_text() == carried


@pytest.fixture(scope="module")
def reanswered(tmp_path_factory):
    """A project copied at OLD and edited by the team, then updated to NEW with one answer
    changed (`--data model_type=linear`). Returns it and its answers before the update."""
    template = template_history(tmp_path_factory, "reanswer-history", touches_team_files=False)
    project = copy_and_commit(template, tmp_path_factory.mktemp("reanswered") / "project")
    edit(project / "trainer/model.py", append(TEAM_FUNCTION))
    git(project, "add", "-A")
    git(project, "commit", "-qm", "the team's edits")
    before = answers(project)
    copier_update(project, "--data", "model_type=linear")
    return project, before


@pytest.mark.xdist_group("update-reanswer")
def test_update_with_data_changes_one_answer_and_keeps_edits(reanswered):
    project, before = reanswered
    after = answers(project)
    assert after == before | {"_commit": NEW, "model_type": "linear"}
    assert 'DEFAULT_MODEL_TYPE = "linear"' in (project / "trainer/features.py").read_text()
    assert (project / "trainer/model.py").read_text().endswith(TEAM_FUNCTION)
    assert files_with_conflict_markers(project) == []


# ---------------------------------------------------------------- a new task type through an update

TEAM_TRIAL_BUDGET = ("maxTrialCount: 20", "maxTrialCount: 12  # the team's tuning budget")
# The penguins as a regression: body mass from the other measurements, the species and more.
REGRESSION = {
    "task_type": "regression",
    "label_column": "body_mass_g",
    "numeric_features": "[bill_length_mm, bill_depth_mm, flipper_length_mm]",
    "categorical_features": "[species, island, sex]",
}


@pytest.fixture(scope="module")
def retasked(tmp_path_factory):
    """A project copied at OLD whose team cut the trial budget in config/hptuning.yaml, then
    updated to NEW with the task type changed to regression through `--data`."""
    template = template_history(tmp_path_factory, "retask-history", touches_team_files=False)
    project = copy_and_commit(template, tmp_path_factory.mktemp("retasked") / "project")
    edit(project / "config/hptuning.yaml", replace_once(*TEAM_TRIAL_BUDGET))
    git(project, "add", "-A")
    git(project, "commit", "-qm", "the team's trial budget")
    copier_update(project, *(f"--data={key}={value}" for key, value in REGRESSION.items()))
    return project


@pytest.mark.xdist_group("update-retask")
def test_a_new_task_type_reaches_the_tuning_config_beside_the_team_edit(retasked):
    text = (retasked / "config/hptuning.yaml").read_text()
    config = yaml.safe_load(text)
    assert config["studySpec"]["metrics"] == [{"metricId": "val_rmse", "goal": "MINIMIZE"}]
    assert TEAM_TRIAL_BUDGET[1] in text.splitlines()
    assert config["maxTrialCount"] == 12
    assert files_with_conflict_markers(retasked) == []


@pytest.mark.xdist_group("update-retask")
def test_the_tuning_dry_run_follows_the_new_task_type(retasked, gcloud_env):
    result = run(
        ["bash", "scripts/hptune.sh", "--dry-run"],
        cwd=retasked,
        env=gcloud_env | {"PYTHON": str(VENV_BIN / "python")},
    )
    lines = result.stdout.splitlines()
    create = next(i for i, line in enumerate(lines) if line.startswith("gcloud ai hp-tuning-jobs"))
    job = yaml.safe_load("\n".join(lines[create + 1 :]))
    assert job["studySpec"]["metrics"] == [{"metricId": "val_rmse", "goal": "MINIMIZE"}]
    assert job["maxTrialCount"] == 12
    (pool,) = job["trialJobSpec"]["workerPoolSpecs"]
    assert "--hypertune-metric=val_rmse" in pool["containerSpec"]["args"]


# ---------------------------------------------------------------- a project nobody edited


@pytest.fixture(scope="module")
def code_history(tmp_path_factory) -> Path:
    """OLD, then a release NEW that changes only the template's code (not the team's files)."""
    return template_history(tmp_path_factory, "code-history", touches_team_files=False)


def check_update(project: Path, policy: str = "warn") -> subprocess.CompletedProcess:
    """The generated CI's template job: `make check-update`, with the copier it installs."""
    return run(
        ["make", "--silent", "check-update", f"COPIER={VENV_BIN / 'copier'}"],
        cwd=project,
        env={"TEMPLATE_UPDATE_POLICY": policy},
        check=False,
    )


# An answer of the template that a project copied before its question existed does not hold.
NEWER_ANSWER = "datetime_features: []\n"


@pytest.fixture(scope="module")
def unedited(code_history, tmp_path_factory):
    """A project copied at OLD and committed, then updated to NEW. Its answers are those of a
    project copied before the template asked for NEWER_ANSWER, which the update must give it
    (its default). Returns the project and the results of `make check-update` (warn and fail
    policies), run before the update."""
    project = copy_and_commit(code_history, tmp_path_factory.mktemp("unedited") / "project")
    edit(project / ".copier-answers.yml", replace_once(NEWER_ANSWER, ""))
    git(project, "commit", "-qam", "answers from before datetime_features")
    checks = {policy: check_update(project, policy) for policy in ("warn", "fail")}
    copier_update(project)
    return project, checks


@pytest.mark.xdist_group("update-unedited")
def test_check_update_reports_a_newer_release(unedited):
    _, checks = unedited
    message = f"A newer release of the template is out (this project is at {OLD})"
    assert checks["warn"].returncode == 0, checks["warn"].stderr
    assert message in checks["warn"].stderr
    assert checks["fail"].returncode != 0  # make reports the script's exit 1 as its own 2
    assert message in checks["fail"].stderr


@pytest.mark.xdist_group("update-unedited")
def test_unedited_update_equals_a_fresh_copy(unedited, code_history, tmp_path):
    """The answers that the project lacked take their defaults, so it trains as a fresh copy
    does: a project without dates keeps its schema, model and stats file."""
    project, _ = unedited
    assert NEWER_ANSWER in (project / ".copier-answers.yml").read_text()
    assert answers(project)["_commit"] == NEW
    fresh = render(code_history, tmp_path / "fresh", vcs_ref=NEW)
    diff = run(["diff", "-r", "-x", ".git", str(project), str(fresh)], check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr


@pytest.mark.xdist_group("update-unedited")
def test_check_update_is_quiet_once_updated(unedited):
    project, _ = unedited
    result = check_update(project, "fail")
    assert result.returncode == 0, result.stderr
    assert "Up to date with the template." in result.stdout


# ---------------------------------------------------------------- the generated CI


@pytest.fixture(scope="module")
def workflow(default_project) -> dict:
    return yaml.safe_load((default_project / ".github/workflows/ci.yml").read_text())


def run_blocks(workflow: dict) -> list[str]:
    return [
        step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step
    ]


def make_commands(workflow: dict) -> list[list[str]]:
    """Every `make ...` command line in the workflow's `run:` blocks, split into words."""
    return [
        words
        for block in run_blocks(workflow)
        for line in block.splitlines()
        if (words := shlex.split(line)) and words[0] == "make"
    ]


def test_the_workflow_runs_on_pushes_and_pull_requests(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request", "schedule"} <= set(triggers)
    assert {"test", "template-update"} <= set(workflow["jobs"])


def test_every_make_target_the_workflow_calls_is_defined(workflow, default_project):
    commands = make_commands(workflow)
    targets = {
        word
        for words in commands
        for word in words[1:]
        if not word.startswith("-") and "=" not in word
    }
    assert {"install", "lint", "test", "check-update"} <= targets
    for words in commands:
        # A dry run fails with "No rule to make target" for an undefined target.
        run(["make", "--dry-run", *words[1:]], cwd=default_project)


def test_the_workflow_scripts_pass_shellcheck(workflow, tmp_path):
    scripts = []
    for number, block in enumerate(run_blocks(workflow)):
        script = tmp_path / f"step{number}.sh"
        script.write_text(f"#!/usr/bin/env bash\nset -e\n{block}\n")
        scripts.append(str(script))
    run([str(VENV_BIN / "shellcheck"), *scripts])


def test_the_template_job_installs_the_pinned_copier(default_project):
    pins = subprocess.run(
        ["grep", "-E", "^copier==", "requirements-dev.txt"],
        cwd=default_project,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert len(pins) == 1, pins


# ---------------------------------------------------------------- a relative template path


def test_a_relative_template_path_is_named_with_its_fix(template, tmp_path):
    """`copier copy ../template project` records '../template' as given; from the project that
    leads nowhere, and copier itself says only "Updating is only supported in git-tracked
    templates". `make check-update` names the path and the fix; once _src_path is the absolute
    path of the template's clone, it checks again."""
    work = tmp_path / "work"
    work.mkdir()
    relative = os.path.relpath(template, work)
    run([str(VENV_BIN / "copier"), "copy", "--trust", "--defaults", relative, "project"], cwd=work)
    project = work / "project"
    assert answers(project)["_src_path"] == relative
    git(project, "add", "-A")
    git(project, "commit", "-qm", "generated from the template")
    update = run(
        [str(VENV_BIN / "copier"), "update", "--trust", "--defaults"], cwd=project, check=False
    )
    assert "Updating is only supported in git-tracked templates" in update.stderr

    refused = check_update(project)
    assert refused.returncode != 0
    # One error line (and make's own note that the target failed).
    (line,) = [line for line in refused.stderr.splitlines() if not line.startswith("make")]
    assert line.startswith(f"error: .copier-answers.yml's _src_path '{relative}' does not lead")
    assert "set _src_path to the template's git URL or to the absolute path of its git clone" in (
        line
    )
    # make schema prints a `copier update` line: the same cause follows it, as a warning.
    schema = run(["make", "--silent", "schema", f"VENV={VENV_BIN.parent}"], cwd=project)
    assert "update --trust --defaults" in schema.stdout
    assert f"warning: .copier-answers.yml's _src_path '{relative}' does not lead" in schema.stderr

    edit(
        project / ".copier-answers.yml",
        replace_once(f"_src_path: {relative}\n", f"_src_path: {template}\n"),
    )
    git(project, "commit", "-qam", "the template's absolute path")
    checked = check_update(project, "fail")
    assert checked.returncode == 0, checked.stderr
    assert "Up to date with the template." in checked.stdout
    schema = run(["make", "--silent", "schema", f"VENV={VENV_BIN.parent}"], cwd=project)
    assert "_src_path" not in schema.stderr
