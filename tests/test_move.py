"""A project made before the layout change follows it with `copier update`: v1.0.0 (commit
V1_COMMIT) had the workstation modules in trainer/; the next release moves them to workflow/,
with a migration (copier.yml's `_migrations`, hooks/carry-renamed-file.sh) that carries the
team's edits of each moved file to its new path. The same migration carries a module renamed
inside workflow/ since (RENAMES), for a project made between the releases (BEFORE_RENAMES).
The data preparation, one file then, is a package now (SPLIT): no merge can carry an edit of the
old file into it, so a second migration (hooks/carry-split-file.sh) keeps the team's edits as a
patch in the package, and says so.

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

from conftest import (
    QUALITY_TESTS,
    ROOT,
    TEMPLATE_TAG,
    VENV_BIN,
    copier_config,
    leaving_out,
    render,
    run,
    snapshot_template,
)

V1_COMMIT = "0b13505"  # the v1.0.0 release: in every clone's history, whether or not tags travel
V1 = "v1.0.0"
NEW = TEMPLATE_TAG
MIGRATION_VERSION = "v2.0.0"  # the release that moved the modules
# The answers that the v2.0.0 migration gives a project made before, which keep it training as
# it did (hooks/keep-earlier-answers.sh), in the order it lists them.
KEPT_ANSWERS = {"max_vocabulary": 0, "numeric_buckets": 0}
TEAM_OWNED = ("data", "NOTES.md")  # an update never writes these, so they stay as at V1

# The team's edits, each applied to the file at V1: (path at V1, path after the move, edit).
TEAM_EDITS = [
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


# The module split into a package, the package, and the team's edit of the module at V1.
SPLIT = ("trainer/data.py", "workflow/data")
SPLIT_EDIT = replace_once(
    'SPLITS = ("train", "eval", "test")', 'SPLITS = ("train", "eval", "test")  # ours'
)
# Where the split's migration keeps the team's edits of the old file, and what it prints.
SPLIT_PATCH = "workflow/data/trainer-data.py.your-edits.patch"
SPLIT_REPORT = (
    "Kept your edits of trainer/data.py as workflow/data/trainer-data.py.your-edits.patch "
    "(its code is now in workflow/data/); the settings a team changes are in config/data.yaml."
)

# Modules of workflow/ renamed after v1.0.0 (the same migration carries them), and a commit
# that still has their old names: it is in every clone's history, as V1_COMMIT is. At that
# commit, the data preparation was workflow/data.py, which the split's migration handles too.
RENAMES = [("workflow/statsfile.py", "workflow/split_stats.py")]
SPLIT_SINCE = ("workflow/data.py", "workflow/data")
BEFORE_RENAMES = "0d4ccc8"


def migration_pairs(script: str) -> list[tuple[str, str]]:
    """The (old, new) pairs that copier.yml's migration to MIGRATION_VERSION gives `script`
    (hooks/SCRIPT), after its options."""
    (migration,) = [
        m
        for m in copier_config()["_migrations"]
        if m["version"] == MIGRATION_VERSION and m["command"][1].endswith(f"/hooks/{script}")
    ]
    paths = migration["command"][2:]
    if paths[0] == "--note":
        paths = paths[2:]
    return list(zip(paths[::2], paths[1::2], strict=True))


def moves() -> list[tuple[str, str]]:
    """The (old, new) pairs of the migration that moved the modules, read from copier.yml."""
    return migration_pairs("carry-renamed-file.sh")


def splits() -> list[tuple[str, str]]:
    """The (old file, new package) pairs of the migration that keeps edits of a split file."""
    return migration_pairs("carry-split-file.sh")


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
    edit(project / SPLIT[0], SPLIT_EDIT)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "the team's edits")

    update = run([str(VENV_BIN / "copier"), "update", "--trust", "--defaults"], cwd=project)
    fresh = render(
        template, tmp_path_factory.mktemp("fresh") / "project", vcs_ref=NEW, **KEPT_ANSWERS
    )
    return project, update, fresh


@pytest.mark.xdist_group("move")
def test_the_options_added_since_stay_off_so_that_the_project_trains_as_it_did(moved):
    """Hashed categories and bucketized numbers came after v1.0.0: the update records them off,
    says so, and a fresh copy with those answers is the updated project (tested below)."""
    project, update, _ = moved
    recorded = answers(project)
    assert {key: recorded[key] for key in KEPT_ANSWERS} == KEPT_ANSWERS
    kept = " ".join(f"{key}={value}" for key, value in KEPT_ANSWERS.items())
    assert f"This release's new options are off in this project, as it trained before: {kept}" in (
        update.stdout
    )
    features = (project / "trainer/features.py").read_text()
    assert "    max_vocabulary=0,\n" in features
    assert "DEFAULT_NUMERIC_BUCKETS = 0\n" in features


def test_the_migration_moves_every_module_that_left_trainer():
    at_v1 = run(["git", "ls-tree", "-r", "--name-only", V1_COMMIT, "template/trainer/"], cwd=ROOT)
    gone = [
        name.removeprefix("template/")
        for name in at_v1.stdout.split()
        if not (ROOT / name).exists()
    ]
    assert gone, "nothing left trainer/ since v1.0.0"
    # Each to the same name in workflow/: a module, or a package of that name once split.
    carried = [*moves_out_of_trainer(), *(s for s in splits() if s[0].startswith("trainer/"))]
    assert sorted(old for old, _ in carried) == sorted(gone)
    for old, new in carried:
        same_name = "workflow/" + old.removeprefix("trainer/")
        assert new in (same_name, same_name.removesuffix(".py")), (old, new)
    for _, new in moves():
        assert (ROOT / "template" / new).is_file(), f"template/{new} is not a plain file"
    for _, package in splits():
        assert (ROOT / "template" / package / "__init__.py").is_file(), f"template/{package}"


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
    for old, _ in [*moves_out_of_trainer(), *splits()]:
        assert not (project / old).exists(), old
    assert not (project / "trainer/cloud").exists()
    assert files_with_conflict_markers(project) == []
    assert git(project, "diff", "--name-only", "--diff-filter=U") == ""


@pytest.mark.xdist_group("move")
def test_the_updated_project_is_a_fresh_copy_but_for_the_team_edits(moved):
    project, _, fresh = moved
    updated, copied = project_files(project), project_files(fresh)
    assert sorted(updated) == sorted([*copied, SPLIT_PATCH])
    differing = sorted(name for name in copied if updated[name] != copied[name])
    assert differing == sorted(new for _, new, _ in TEAM_EDITS)


@pytest.mark.xdist_group("move")
def test_the_edits_of_the_split_module_are_kept_as_a_patch_that_says_where(moved, tmp_path):
    """The patch holds the team's edit: applied to the old template's file, it gives the team's
    file back. The update's output names it, and where the settings went."""
    project, update, _ = moved
    assert SPLIT_REPORT in update.stdout.splitlines(), update.stdout
    old, package = SPLIT
    patch = project / SPLIT_PATCH
    assert patch.parent == project / package
    text = patch.read_text()
    assert '+SPLITS = ("train", "eval", "test")  # ours' in text.splitlines()
    base = run(["git", "show", f"{V1_COMMIT}:template/{old}"], cwd=ROOT).stdout
    (tmp_path / old).parent.mkdir(parents=True)
    (tmp_path / old).write_text(base)
    run(["git", "apply", str(patch)], cwd=tmp_path)
    assert (tmp_path / old).read_text() == SPLIT_EDIT(base)
    assert not (project / old).exists()
    assert not (project / "workflow/data.py").exists()


@pytest.mark.long
@pytest.mark.xdist_group("move")
def test_the_updated_project_passes_its_tests_and_lint(moved, tmp_path):
    project, _, _ = moved
    # A copy, so that the caches and outputs of these runs stay out of the other tests' project.
    checked = shutil.copytree(project, tmp_path / "project")
    run(["make", "lint", f"VENV={VENV_BIN.parent}"], cwd=checked)
    quality = leaving_out(checked, QUALITY_TESTS).split()
    run([str(VENV_BIN / "python"), "-m", "pytest", "-n", "0", "-q", *quality], cwd=checked)


@pytest.mark.parametrize(
    ("script", "usage"),
    [
        ("carry-renamed-file.sh", "OLD NEW [OLD NEW ...]"),
        ("carry-split-file.sh", "[--note TEXT] OLD NEWDIR [OLD NEWDIR ...]"),
    ],
)
def test_the_carry_scripts_refuse_a_path_without_its_pair(tmp_path, script, usage):
    result = run(
        ["bash", str(ROOT / "hooks" / script), "trainer/data.py"], cwd=tmp_path, check=False
    )
    assert result.returncode == 2
    assert "expected pairs of paths, got 1 argument(s)" in result.stderr
    assert f"usage: {script} {usage}" in result.stderr


# ---------------------------------------------------------------- renamed inside workflow/ since


def test_the_migration_carries_each_rename_and_its_old_path_is_gone():
    for old, new in RENAMES:
        assert (old, new) in moves()
        assert not (ROOT / "template" / old).exists(), old
        assert (ROOT / "template" / new).is_file(), new
    assert SPLIT_SINCE in splits()
    assert not (ROOT / "template" / SPLIT_SINCE[0]).exists()
    renamed = run(["git", "ls-tree", "--name-only", BEFORE_RENAMES, "template/workflow/"], cwd=ROOT)
    before = {f"template/{old}" for old, _ in [*RENAMES, SPLIT_SINCE]}
    assert before <= set(renamed.stdout.split())


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    """A project made at BEFORE_RENAMES (tagged v1.1.0, between the releases), whose team edited
    a module renamed since and a setting of workflow/data.py (split since) that is
    config/data.yaml's now, then updated to NEW. Returns it and the update's result."""
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
    """workflow/data.py is a package now: the team's edit of its constant is kept as a patch
    there, and the update's line says that the settings are in config/data.yaml."""
    project, update = renamed
    old, package = SPLIT_SINCE
    patch = f"{package}/workflow-data.py.your-edits.patch"
    assert (
        f"Kept your edits of {old} as {patch} (its code is now in {package}/); the settings a "
        "team changes are in config/data.yaml."
    ) in update.stdout.splitlines(), update.stdout
    lines = (project / patch).read_text().splitlines()
    assert "-MAX_DISTINCT = 10_000" in lines
    assert "+MAX_DISTINCT = 50_000" in lines
    assert not (project / old).exists()
    assert files_with_conflict_markers(project) == []
    assert "max_distinct: 10000" in (project / "config/data.yaml").read_text()


# ------------------------------------------------------------------ the split's script, alone


def split_script_setup(tmp_path: Path, team_text: str) -> Path:
    """A template repo holding the split's script, whose tag v1 has template/settings.py and
    whose template now has the package template/pkg/; and a project, committed, whose
    settings.py reads `team_text` (as copier leaves it, the file itself is gone). Returns the
    project."""
    template, project = tmp_path / "template", tmp_path / "project"
    (template / "hooks").mkdir(parents=True)
    for script in ("carry-split-file.sh", "migration-setup.sh"):
        shutil.copy(ROOT / "hooks" / script, template / "hooks")
    (template / "template").mkdir()
    (template / "template/settings.py").write_text("SPLITS = 3\n")
    git(template, "init", "-q")
    git(template, "add", "-A")
    git(template, "commit", "-qm", "v1")
    git(template, "tag", "v1")
    (template / "template/pkg").mkdir()
    (template / "template/pkg/__init__.py").write_text("")
    project.mkdir()
    (project / "settings.py").write_text(team_text)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "the team's")
    (project / "settings.py").unlink()
    return project


def run_split_script(project: Path):
    script = project.parent / "template/hooks/carry-split-file.sh"
    return run(
        ["bash", str(script), "--note", "see config/", "settings.py", "pkg"],
        cwd=project,
        env={"VERSION_FROM": "v1", "VERSION_TO": "v2"},
    )


def test_the_split_script_leaves_nothing_for_a_file_the_team_never_edited(tmp_path):
    project = split_script_setup(tmp_path, "SPLITS = 3\n")
    assert run_split_script(project).stdout == ""
    assert git(project, "status", "--porcelain") == " D settings.py\n"


def test_the_split_script_keeps_the_edits_once_and_a_second_run_changes_nothing(tmp_path):
    project = split_script_setup(tmp_path, "SPLITS = 4  # ours\n")
    first = run_split_script(project)
    assert first.stdout == (
        "Kept your edits of settings.py as pkg/settings.py.your-edits.patch (its code is now in "
        "pkg/); see config/.\n"
    )
    patch = project / "pkg/settings.py.your-edits.patch"
    text = patch.read_text()
    assert text.startswith("Your edits of settings.py, kept by the update from v1 to v2.\n")
    assert text.endswith(
        "--- a/settings.py\n+++ b/settings.py\n@@ -1 +1 @@\n-SPLITS = 3\n+SPLITS = 4  # ours\n"
    )
    again = run_split_script(project)
    assert (again.stdout, again.stderr) == ("", "")
    assert patch.read_text() == text


def test_an_answer_the_project_already_gave_is_kept(tmp_path):
    answers_file = tmp_path / ".copier-answers.yml"
    answers_file.write_text("_commit: v2.0.0\nmax_vocabulary: 500\n")
    script = str(ROOT / "hooks" / "keep-earlier-answers.sh")
    result = run(["bash", script, answers_file.name, "max_vocabulary=0"], cwd=tmp_path)
    assert answers_file.read_text() == "_commit: v2.0.0\nmax_vocabulary: 500\n"
    assert result.stdout == ""
    refused = run(["bash", script, answers_file.name, "max_vocabulary"], cwd=tmp_path, check=False)
    assert refused.returncode == 2
    assert "'max_vocabulary' is not KEY=VALUE" in refused.stderr
