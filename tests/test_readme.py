"""The generated README as a newcomer reads it: its quick start runs as shown (the one run of the
default project's clone, train, predict and evaluate), every relative link in it and in its docs/
pages leads somewhere, it stays short, and the tier table in docs/tiers.md says what
config/tiers.yaml holds."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from conftest import VENV_BIN, render, run

# The generated README stays readable in one sitting; a section that grows past this belongs in
# a docs/ page. (It was 27.8k characters before the docs/ pages took the deep topics.)
README_BUDGET = 11_000

QUICK_START_HEADING = "## Quick start"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = "```"
COMMIT = ["git", "-c", "user.name=tests", "-c", "user.email=tests@example.com", "commit"]


def quick_start_block(readme: str) -> str:
    """The first ```bash block under the quick-start heading."""
    assert QUICK_START_HEADING in readme, f"no {QUICK_START_HEADING!r} heading in the README"
    section = readme.split(QUICK_START_HEADING, 1)[1]
    match = re.search(r"^```bash\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert match, "no ```bash block under the quick-start heading"
    return match.group(1)


def with_local_clone(block: str, repository: Path) -> str:
    """The block with its `git clone` of the team's remote pointed at `repository` instead:
    the one line of the quick start a test cannot run as shown (it names no real remote)."""
    first, *rest = block.splitlines()
    words = shlex.split(first, comments=True)
    assert words[:2] == ["git", "clone"] and len(words) == 4, f"not a git clone line: {first}"
    return "\n".join([shlex.join([*words[:2], str(repository), words[3]]), *rest]) + "\n"


@pytest.mark.long
def test_quick_start_runs_as_shown(template, tmp_path, gcloud_env):
    # The team's repository: a fresh copy, committed as the copy's own message asks.
    origin = render(template, tmp_path / "origin")
    run(["git", "add", "-A"], cwd=origin)
    run([*COMMIT, "-qm", "A new trainer"], cwd=origin)
    block = with_local_clone(quick_start_block((origin / "README.md").read_text()), origin)
    workstation = tmp_path / "workstation"
    workstation.mkdir()

    result = run(
        ["bash", "-e", "-c", block],
        cwd=workstation,
        env={
            **gcloud_env,
            # `make install` into the tests' venv, which already holds requirements-dev.txt:
            # pip checks that offline and changes nothing, instead of installing TensorFlow again.
            "VENV": str(VENV_BIN.parent),
            "PIP_NO_INDEX": "1",
            "PIP_DRY_RUN": "1",
        },
    )

    clone = workstation / shlex.split(block.splitlines()[0])[3]
    assert (clone / "outputs/local/model/saved_model.pb").is_file()
    metrics = json.loads((clone / "outputs/local/metrics.json").read_text())
    assert metrics["accuracy"] > 0.9, metrics  # the penguins are easy to tell apart

    # `make predict` served the model through gcloud: data/instances.json holds one penguin of
    # each species, in this order.
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == ["CLASSES", "PROBABILITIES"])
    predicted = [line.split()[0] for line in lines[header + 1 : header + 4]]
    assert predicted == ["Adelie", "Gentoo", "Chinstrap"], result.stdout
    # gcloud's TensorFlow 1 loader logs this for every export; it is harmless, and dropped.
    assert "__saved_model_init_op" not in result.stderr
    assert "$ gcloud ai-platform local predict --model-dir outputs/local/model" in result.stderr

    # Training's final evaluation ran on data/eval.csv: make evaluate scores it alike.
    result = run(["make", "--silent", "evaluate", f"VENV={VENV_BIN.parent}"], cwd=clone)
    evaluation = json.loads((clone / "outputs/local/evaluation.json").read_text())
    assert evaluation == pytest.approx(metrics, rel=1e-5, abs=1e-6)
    assert "outputs/local/model on data/eval.csv (81 rows):" in result.stdout


def headings(markdown: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown page (code blocks left out)."""
    anchors, in_code = set(), False
    for line in markdown.splitlines():
        if line.startswith(FENCE):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def broken_links(page: Path) -> list[str]:
    """Each relative link of `page` whose file, or heading, does not exist."""
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in headings(linked.read_text()):
            broken.append(f"{target}: no such heading in {linked.name}")
    return broken


def test_every_relative_link_leads_somewhere(default_project):
    pages = [default_project / "README.md", *sorted((default_project / "docs").glob("*.md"))]
    assert len(pages) > 1, "no docs/ pages"
    broken = {page.name: broken_links(page) for page in pages}
    assert not any(broken.values()), broken


def test_every_docs_page_is_linked_from_the_readme(default_project):
    linked = {
        (default_project / target.partition("#")[0]).resolve()
        for target in LINK.findall((default_project / "README.md").read_text())
    }
    orphans = [p.name for p in (default_project / "docs").glob("*.md") if p.resolve() not in linked]
    assert not orphans, f"docs/ pages the README never links: {orphans}"


def test_readme_stays_within_its_budget(default_project):
    length = len((default_project / "README.md").read_text())
    assert length <= README_BUDGET, (
        f"README.md is {length} characters, over its budget of {README_BUDGET}: "
        "move the details to a docs/ page"
    )


def test_tier_table_says_what_the_tiers_config_holds(default_project):
    presets = yaml.safe_load((default_project / "config/tiers.yaml").read_text())
    table = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in (default_project / "docs/tiers.md").read_text().splitlines()
        if line.startswith("| ")
    ]
    rows = {cells[0]: cells[1] for cells in table[1:]}  # below the header
    assert sorted(rows) == sorted(presets), "docs/tiers.md lists other tiers than config/tiers.yaml"
    for tier, pools in presets.items():
        assert pools["chief"]["machineType"] in rows[tier], (tier, rows[tier])
        workers = pools.get("workers", {}).get("replicaCount", 0)
        if workers:
            assert f"{workers} workers" in rows[tier], (tier, rows[tier])
