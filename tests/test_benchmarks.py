"""The benchmarks: one quick pass proves they still run and that a run writes its own tables into
the results file and the README (no timing is asserted); and the README's Performance section is
the results file, so that its figures come from a run, not from a hand."""

from __future__ import annotations

import shutil

import pytest

from conftest import ROOT, VENV_BIN, run

README_START = "<!-- performance:start -->"
README_END = "<!-- performance:end -->"


def performance_section(readme: str) -> tuple[str, str]:
    """(the Performance section between its markers, the README without it)."""
    assert readme.count(README_START) == 1, f"the README needs one {README_START}"
    assert readme.count(README_END) == 1, f"the README needs one {README_END}"
    before, rest = readme.split(README_START)
    section, after = rest.split(README_END)
    return section, before + after


@pytest.mark.long
def test_every_benchmark_runs_and_writes_its_tables_into_the_readme(tmp_path):
    readme, results = tmp_path / "README.md", tmp_path / "results.md"
    shutil.copy(ROOT / "README.md", readme)
    result = run(
        [
            *(str(VENV_BIN / "python"), str(ROOT / "benchmarks/run.py"), "--quick", "--write"),
            *("--results", str(results), "--readme", str(readme)),
        ]
    )
    for heading in (
        "### 1. Input pipeline vs in-memory",
        "### 2. Startup",
        "### 3. Scaling with data",
        "### 4. Render",
        "### 5. Time to first model",
        "### 6. Staging upload",
        "### 7. Shards and the stats file",
        "### 8. What the feature kinds are worth",
        "### 9. The prepare in BigQuery",
    ):
        assert heading in result.stdout, result.stdout
    assert "| **total: copier copy to a served prediction** |" in result.stdout
    assert "Run: `--quick`" in result.stdout, "the tables do not say they are a quick pass"

    # The results file is what the run printed; the README's section is the results file, and
    # the rest of the README is left as it was.
    assert results.read_text() == result.stdout.rstrip("\n") + "\n"
    section, rest = performance_section(readme.read_text())
    assert section.strip("\n") == results.read_text().strip("\n")
    assert rest == performance_section((ROOT / "README.md").read_text())[1]


def test_the_readmes_performance_section_is_the_results_file():
    section, _ = performance_section((ROOT / "README.md").read_text())
    results = (ROOT / "benchmarks/results.md").read_text()
    assert section.strip("\n") == results.strip("\n"), (
        "README.md's Performance section differs from benchmarks/results.md: run "
        "`.venv/bin/python benchmarks/run.py`, which writes both"
    )
