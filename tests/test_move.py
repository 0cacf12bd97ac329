"""A project made before the layout change follows it with `copier update`: v1.0.0 (commit
V1_COMMIT) had the workstation modules in trainer/; the next release moves them to workflow/,
with a migration (copier.yml's `_migrations`, hooks/carry-renamed-file.sh) that carries the
team's edits of each moved file to its new path. The same migration carries a module renamed
inside workflow/ since (RENAMES), for a project made between the releases (BEFORE_RENAMES).

The template's history here is two commits: V1_COMMIT's tree tagged V1, then the working tree
tagged NEW. A project is copied at V1 and committed; the team edits two moved modules and one
that stays, commits, and runs the `copier` CLI's update, as a team would.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

from test_update import answers, append, edit, files_with_conflict_markers, git, replace_once

from conftest import ROOT, TEMPLATE_TAG, VENV_BIN, copier_config, render, run, snapshot_template

V1_COMMIT = "0b13505"  # the v1.0.0 release: in every clone's history, whether or not tags travel
V1 = "v1.0.0"
NEW = TEMPLATE_TAG
MIGRATION_VERSION = "v2.0.0"  # the release that moved the modules
TEAM_OWNED = ("data", "NOTES.md")  # an update never writes these, so they stay as at V1

# The team's edits, each applied to the file at V1: (path at V1, path after the move, edit).
TEAM_EDITS = [
    (
        "trainer/data.py",
        "workflow/data.py",
        replace_once(
            'SPLITS = ("train", "eval", "test")', 'SPLITS = ("train", "eval", "test")  # ours'
        ),
    ),
    (
        "trainer/cloud/submit.py",
        "workflow/cloud/submit.py",
        replace_once(
            'help="print the gcloud commands and the spec; build nothing remotely, send nothing",',
            'help="print what would be sent (our wording); send nothing",',
        ),
    ),
    (
        "trainer/model.py",
        "trainer/model.py",
        append('\n\ndef team_report(metrics: dict) -> str:\n    return f"team: {metrics}"\n'),
    ),
]


# Modules of workflow/ renamed after v1.0.0 (the same migration carries them), and a commit
# that still has their old names: it is in every clone's history, as V1_COMMIT is.
RENAMES = [("workflow/statsfile.py", "workflow/split_stats.py")]
BEFORE_RENAMES = "0d4ccc8"


def moves() -> list[tuple[str, str]]:
    """The (old, new) pairs of the migration that moved the modules, read from copier.yml."""
    (migration,) = [m for m in copier_config()["_migrations"] if m["version"] == MIGRATION_VERSION]
    paths = migration["command"][2:]
    return list(zip(paths[::2], paths[1::2], strict=True))


def moves_out_of_trainer() -> list[tuple[str, str]]:
    return [(old, new) for old, new in moves() if (old, new) not in RENAMES]


def history_across_the_move(dest: Path) -> Path:
    """A template repo: V1_COMMIT's tree tagged V1, then the working tree tagged NEW."""
    run(f"git -C {shlex.quote(str(ROOT))} archive {V1_COMMIT} | tar -x -C {shlex.quote(str(dest))}")
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", f"release {V1}")
    git(dest, "tag", V1)
    git(dest, "rm", "-rq", ".")  # the next commit holds the working tree's files, and only them
    return snapshot_template(dest, tag=NEW)


def project_files(project: Path) -> dict[str, bytes]:
    """Every file the project holds (path -> bytes), outside .git and the team-owned paths."""
    files = {}
    for path in project.rglob("*"):
        name = path.relative_to(project).as_posix()
        if path.is_file() and ".git" not in path.parts and not name.startswith(TEAM_OWNED):
            files[name] = path.read_bytes()
    return files


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    """A project copied at V1, edited and committed by the team, then updated to NEW with
    `copier update --trust --defaults`. Returns it, the update's result, and a fresh copy of NEW."""
    template = history_across_the_move(tmp_path_factory.mktemp("move-history"))
    project = render(template, tmp_path_factory.mktemp("moved") / "project", vcs_ref=V1)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "generated from the template")
    for old, _, team_edit in TEAM_EDITS:
        edit(project / old, team_edit)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "the team's edits")

    update = run([str(VENV_BIN / "copier"), "update", "--trust", "--defaults"], cwd=project)
    fresh = render(template, tmp_path_factory.mktemp("fresh") / "project", vcs_ref=NEW)
    return project, update, fresh


def test_the_migration_moves_every_module_that_left_trainer():
    at_v1 = run(["git", "ls-tree", "-r", "--name-only", V1_COMMIT, "template/trainer/"], cwd=ROOT)
    gone = [
        name.removeprefix("template/")
        for name in at_v1.stdout.split()
        if not (ROOT / name).exists()
    ]
    assert gone, "nothing left trainer/ since v1.0.0"
    same_names_in_workflow = [(old, "workflow/" + old.removeprefix("trainer/")) for old in gone]
    assert sorted(moves_out_of_trainer()) == sorted(same_names_in_workflow)
    for _, new in moves():
        assert (ROOT / "template" / new).is_file(), f"template/{new} is not a plain file"


@pytest.mark.xdist_group("move")
def test_the_update_reaches_the_new_release(moved):
    project, _, _ = moved
    assert answers(project)["_commit"] == NEW


@pytest.mark.xdist_group("move")
def test_every_edit_survives_at_its_new_path(moved):
    project, update, fresh = moved
    for old, new, team_edit in TEAM_EDITS:
        # The release's version of the file (new imports, new usage lines), with the team's edit.
        expected = team_edit((fresh / new).read_text())
        assert (project / new).read_text() == expected, f"{old} -> {new}"
        if old != new:
            carried = f"Carried your edits of {old} over to {new} (0 conflict(s) to resolve)."
            assert carried in update.stdout.splitlines(), update.stdout
    # Only the edited modules are reported: the others had nothing to carry.
    reports = [line for line in update.stdout.splitlines() if line.startswith("Carried ")]
    assert len(reports) == len([1 for old, new, _ in TEAM_EDITS if old != new]), reports


@pytest.mark.xdist_group("move")
def test_no_old_path_is_left_behind(moved):
    project, _, _ = moved
    for old, _ in moves_out_of_trainer():
        assert not (project / old).exists(), old
    assert not (project / "trainer/cloud").exists()
    assert files_with_conflict_markers(project) == []
    assert git(project, "diff", "--name-only", "--diff-filter=U") == ""


@pytest.mark.xdist_group("move")
def test_the_updated_project_is_a_fresh_copy_but_for_the_team_edits(moved):
    project, _, fresh = moved
    updated, copied = project_files(project), project_files(fresh)
    assert sorted(updated) == sorted(copied)
    differing = sorted(name for name in copied if updated[name] != copied[name])
    assert differing == sorted(new for _, new, _ in TEAM_EDITS)


@pytest.mark.xdist_group("move")
def test_the_updated_project_passes_its_tests_and_lint(moved, tmp_path):
    project, _, _ = moved
    # A copy, so that the caches and outputs of these runs stay out of the other tests' project.
    checked = shutil.copytree(project, tmp_path / "project")
    run(["make", "lint", f"VENV={VENV_BIN.parent}"], cwd=checked)
    run([str(VENV_BIN / "python"), "-m", "pytest", "-n", "0", "-q"], cwd=checked)


def test_the_carry_script_refuses_a_path_without_its_pair(tmp_path):
    script = ROOT / "hooks/carry-renamed-file.sh"
    result = run(["bash", str(script), "trainer/data.py"], cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "expected pairs of paths, got 1 argument(s)" in result.stderr
    assert "usage: carry-renamed-file.sh OLD NEW [OLD NEW ...]" in result.stderr


# ---------------------------------------------------------------- renamed inside workflow/ since


def test_the_migration_carries_each_rename_and_its_old_path_is_gone():
    for old, new in RENAMES:
        assert (old, new) in moves()
        assert not (ROOT / "template" / old).exists(), old
        assert (ROOT / "template" / new).is_file(), new
    renamed = run(["git", "ls-tree", "--name-only", BEFORE_RENAMES, "template/workflow/"], cwd=ROOT)
    assert {f"template/{old}" for old, _ in RENAMES} <= set(renamed.stdout.split())


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    """A project made at BEFORE_RENAMES (tagged v1.1.0, between the releases), whose team edited
    a module renamed since and a setting of workflow/data.py that is config/data.yaml's now, then
    updated to NEW. Returns it and the update's result."""
    template = tmp_path_factory.mktemp("rename-history")
    run(
        f"git -C {shlex.quote(str(ROOT))} archive {BEFORE_RENAMES} "
        f"| tar -x -C {shlex.quote(str(template))}"
    )
    git(template, "init", "-q")
    git(template, "add", "-A")
    git(template, "commit", "-qm", "between the releases")
    git(template, "tag", "v1.1.0")
    git(template, "rm", "-rq", ".")
    snapshot_template(template, tag=NEW)
    project = render(template, tmp_path_factory.mktemp("renamed") / "project", vcs_ref="v1.1.0")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "generated from the template")
    for old, _ in RENAMES:
        edit(project / old, append("\n\n# The team's note, kept across the rename.\n"))
    edit(
        project / "workflow/data.py", replace_once("MAX_DISTINCT = 10_000", "MAX_DISTINCT = 50_000")
    )
    git(project, "add", "-A")
    git(project, "commit", "-qm", "the team's edits")
    update = run([str(VENV_BIN / "copier"), "update", "--trust", "--defaults"], cwd=project)
    return project, update


@pytest.mark.xdist_group("rename")
def test_a_teams_edit_of_a_renamed_module_survives_at_its_new_name(renamed):
    project, update = renamed
    for old, new in RENAMES:
        assert not (project / old).exists(), old
        assert (project / new).read_text() == (ROOT / "template" / new).read_text() + (
            "\n\n# The team's note, kept across the rename.\n"
        )
        carried = f"Carried your edits of {old} over to {new} (0 conflict(s) to resolve)."
        assert carried in update.stdout.splitlines(), update.stdout


@pytest.mark.xdist_group("rename")
def test_a_teams_edit_of_a_setting_now_in_config_shows_where_it_went(renamed):
    """The constant is gone from workflow/data.py: copier leaves the team's line and the new
    one as a conflict, and the new side names the setting in config/data.yaml."""
    project, _ = renamed
    assert files_with_conflict_markers(project) == ["workflow/data.py"]
    text = (project / "workflow/data.py").read_text()
    ours = text[text.index("<<<<<<<") : text.index("=======")]
    theirs = text[text.index("=======") : text.index(">>>>>>>")]
    assert "MAX_DISTINCT = 50_000" in ours
    assert "config/data.yaml's schema_proposal" in theirs
    assert "max_distinct: 10000" in (project / "config/data.yaml").read_text()
