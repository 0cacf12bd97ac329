"""docs/layout.md holds to the rendered tree: every file of the default project is named in its
tables (itself, or by a folder row such as `data/`), every path the tables name exists, and every
row says whether a team edits the file. A file added or renamed without its row fails here, and
the message lists the rows to write."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import run

LAYOUT = "docs/layout.md"
# The answers a row's last column starts with (bold or not).
EDIT_ANSWERS = ("yes", "rarely", "no")
HEADING_FOLDER = re.compile(r"^##\s.*`([^`]+/)`")
PATH = re.compile(r"`([^`]+)`")


def layout_rows(layout: str) -> list[tuple[list[str], list[str]]]:
    """Each table row as (the paths its first cell names, relative to the project; its cells).
    A table under a heading that names a folder (## The job: `trainer/`) names paths inside it."""
    rows = []
    folder = ""
    for line in layout.splitlines():
        if line.startswith("## "):
            match = HEADING_FOLDER.match(line)
            folder = match.group(1) if match else ""
            continue
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] in ("file", "path"):  # the header row
            continue
        rows.append(([folder + path for path in PATH.findall(cells[0])], cells))
    return rows


def rendered_files(project: Path) -> set[str]:
    """The project's files as git sees them: no .git, and nothing that .gitignore leaves out
    (caches, outputs, a venv)."""
    listing = run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=project
    ).stdout
    return set(listing.splitlines())


def test_layout_names_every_file_and_only_files_that_exist(default_project):
    rows = layout_rows((default_project / LAYOUT).read_text())
    named = {path for paths, _ in rows for path in paths}
    folders = [path for path in named if path.endswith("/")]
    files = rendered_files(default_project)

    def covered(file: str) -> bool:
        return file in named or any(file.startswith(folder) for folder in folders)

    def exists(path: str) -> bool:
        return path in files or (path in folders and any(file.startswith(path) for file in files))

    unnamed = sorted(file for file in files if not covered(file))
    missing = sorted(path for path in named if not exists(path))
    assert not unnamed and not missing, (
        f"{LAYOUT} is out of step with the rendered project.\n"
        f"No row names these files (add rows): {', '.join(unnamed) or 'none'}\n"
        f"Rows name these, which the render lacks (rename or remove them): "
        f"{', '.join(missing) or 'none'}"
    )


def test_every_row_says_whether_you_edit_it(default_project):
    rows = layout_rows((default_project / LAYOUT).read_text())
    assert rows, f"no table rows in {LAYOUT}"
    unanswered = [
        cells[0]
        for paths, cells in rows
        if not paths or len(cells) != 3 or not cells[2].strip("*").startswith(EDIT_ANSWERS)
    ]
    assert not unanswered, (
        f"{LAYOUT}: these rows do not say in a third column whether a team edits the file "
        f"(yes, rarely or no, and when): {'; '.join(unanswered)}"
    )
