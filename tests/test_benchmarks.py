"""One quick pass of the benchmarks, only to prove they still run (no timing is asserted)."""

from __future__ import annotations

from conftest import ROOT, VENV_BIN, run


def test_every_benchmark_runs_and_prints_its_table():
    result = run([str(VENV_BIN / "python"), str(ROOT / "benchmarks/run.py"), "--quick"])
    for heading in (
        "### 1. Input pipeline vs in-memory",
        "### 2. Startup",
        "### 3. Scaling with data",
        "### 4. Render",
        "### 5. Time to first model",
        "### 6. Staging upload",
    ):
        assert heading in result.stdout, result.stdout
    assert "| **total: copier copy to a served prediction** |" in result.stdout
